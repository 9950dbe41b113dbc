"""Pure mail logic: parsing, threading rules, loop checks, composing. No database here."""
