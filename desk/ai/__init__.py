"""AI reply drafts: a prompt built from one ticket's conversation, sent to Gemini through
Google's SDK (google-genai). A draft is only ever returned to the agent who asked."""
