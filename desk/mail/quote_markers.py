"""The marker table desk/mail/quotes.py reads: how each language's mail clients mark the
quoted history under a reply (Gmail, Outlook desktop/web/mobile/Mac, Apple Mail and iOS
Mail, Thunderbird, Samsung Email and Android Gmail), as they write it. Add a language or a
client by adding its phrases here; tests/fixtures/replies/ holds a reply for each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Markers:
    """How one language's mail clients mark quoted history. `wrote` are attribution lines,
    written as the client writes them with `…` for the variable part (date, name, address),
    spaces before a colon left out; matched case-insensitively on the whole (joined) line.
    `from_labels` open Outlook's header block, `labels` are its other lines; `separators`
    are whole lines (dashes and underscores around them ignored); `sent_from` are mobile
    signature lines, `…` standing for the device or app."""

    language: str
    wrote: tuple[str, ...] = ()
    from_labels: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    separators: tuple[str, ...] = ()
    sent_from: tuple[str, ...] = ()


MARKERS: tuple[Markers, ...] = (
    Markers(
        "en",
        wrote=("On … wrote:", "… wrote:"),
        from_labels=("From",),
        labels=("Sent", "Date", "To", "Cc", "Subject", "Reply-To"),
        separators=(
            "Original Message",
            "Original message",
            "Forwarded message",
            "Forwarded Message",
            "Begin forwarded message:",
            "Reply message",
        ),
        sent_from=(
            "Sent from my …",
            "Sent from …",
            "Sent with …",
            "Get Outlook for …",
            "Sent via …",
        ),
    ),
    Markers(
        "de",
        wrote=("Am … schrieb …:", "… schrieb …:"),
        from_labels=("Von",),
        labels=("Gesendet", "Datum", "An", "Cc", "Betreff", "Antwort an"),
        separators=(
            "Ursprüngliche Nachricht",
            "Originalnachricht",
            "Weitergeleitete Nachricht",
            "Anfang der weitergeleiteten Nachricht:",
            "Anfang der weitergeleiteten E-Mail:",
        ),
        sent_from=(
            "Von meinem … gesendet",
            "Gesendet von meinem …",
            "Gesendet von …",
            "Von … gesendet",
            "Outlook für … beziehen",
        ),
    ),
    Markers(
        "fr",
        wrote=("Le … a écrit:", "… a écrit:"),
        from_labels=("De",),
        labels=("Envoyé", "Date", "À", "A", "Cc", "Objet", "Répondre à"),
        separators=(
            "Message d'origine",
            "Message d’origine",
            "Message original",
            "Message transféré",
            "Début du message réexpédié:",
            "Début du message transféré:",
        ),
        sent_from=(
            "Envoyé de mon …",
            "Envoyé depuis mon …",
            "Envoyé depuis …",
            "Télécharger Outlook pour …",
            "Obtenir Outlook pour …",
        ),
    ),
    Markers(
        "es",
        wrote=("El … escribió:",),
        from_labels=("De",),
        labels=("Enviado", "Enviado el", "Fecha", "Para", "CC", "Asunto", "Responder a"),
        separators=(
            "Mensaje original",
            "Mensaje reenviado",
            "Inicio del mensaje reenviado:",
        ),
        sent_from=(
            "Enviado desde mi …",
            "Enviado desde …",
            "Obtener Outlook para …",
        ),
    ),
    Markers(
        "pt",
        wrote=("Em … escreveu:", "… escreveu:"),
        from_labels=("De",),
        labels=("Enviado", "Enviada", "Enviado em", "Data", "Para", "Cc", "Assunto"),
        separators=(
            "Mensagem original",
            "Mensagem encaminhada",
            "Mensagem reencaminhada",
            "Início da mensagem encaminhada:",
            "Início da mensagem reencaminhada:",
        ),
        sent_from=(
            "Enviado do meu …",
            "Enviado de meu …",
            "Enviado a partir do …",
            "Obter o Outlook para …",
            "Baixe o Outlook para …",
        ),
    ),
    Markers(
        "it",
        wrote=("Il … ha scritto:", "… ha scritto:"),
        from_labels=("Da",),
        labels=("Inviato", "Data", "A", "Cc", "Oggetto"),
        separators=(
            "Messaggio originale",
            "Messaggio inoltrato",
            "Inizio messaggio inoltrato:",
        ),
        sent_from=(
            "Inviato da …",
            "Inviato dal mio …",
            "Scarica Outlook per …",
        ),
    ),
    Markers(
        "nl",
        wrote=("Op … schreef …:", "Op … het volgende geschreven:", "… schreef …:"),
        from_labels=("Van",),
        labels=("Verzonden", "Datum", "Aan", "CC", "Onderwerp"),
        separators=(
            "Oorspronkelijk bericht",
            "Origineel bericht",
            "Doorgestuurd bericht",
            "Begin doorgestuurd bericht:",
        ),
        sent_from=(
            "Verstuurd vanaf mijn …",
            "Verzonden vanaf mijn …",
            "Verzonden met …",
            "Outlook voor … downloaden",
        ),
    ),
    Markers(
        "sv",
        wrote=("Den … skrev …:", "… skrev …:"),
        from_labels=("Från",),
        labels=("Skickat", "Datum", "Till", "Kopia", "Ämne"),
        separators=(
            "Ursprungligt meddelande",
            "Originalmeddelande",
            "Vidarebefordrat meddelande",
            "Vidarebefordrat mejl:",
        ),
        sent_from=("Skickat från min …", "Skickat från …", "Hämta Outlook för …"),
    ),
    Markers(
        "da",
        wrote=("Den … skrev …:", "… skrev …:"),
        from_labels=("Fra",),
        labels=("Sendt", "Dato", "Til", "Cc", "Emne"),
        separators=(
            "Oprindelig meddelelse",
            "Original meddelelse",
            "Oprindelig besked",
            "Videresendt meddelelse",
            "Start på videresendt besked:",
        ),
        sent_from=("Sendt fra min …", "Sendt fra …", "Hent Outlook til …"),
    ),
    Markers(
        "no",
        wrote=("Den … skrev …:", "… skrev …:"),
        from_labels=("Fra",),
        labels=("Sendt", "Dato", "Til", "Kopi", "Emne"),
        separators=(
            "Opprinnelig melding",
            "Originalmelding",
            "Videresendt melding",
            "Videresendt melding:",
        ),
        sent_from=("Sendt fra min …", "Sendt fra …", "Få Outlook for …"),
    ),
    Markers(
        "fi",
        wrote=("… kirjoitti:", "… kirjoitti …:"),
        from_labels=("Lähettäjä",),
        labels=("Lähetetty", "Päivämäärä", "Vastaanottaja", "Kopio", "Aihe"),
        separators=(
            "Alkuperäinen viesti",
            "Välitetty viesti",
            "Välitetty viesti alkaa:",
        ),
        sent_from=("Lähetetty …sta", "Lähetetty …stä", "Lähetetty laitteesta …", "Hanki Outlook …"),
    ),
    Markers(
        "pl",
        wrote=(
            "W dniu … pisze:",
            "W dniu … napisał(a):",
            "Dnia … napisał(a):",
            "… napisał(a):",
            "… napisał:",
            "… napisała:",
            "Wiadomość napisana przez … w dniu …:",
        ),
        from_labels=("Od",),
        labels=("Wysłano", "Wysłane", "Data", "Do", "DW", "Temat"),
        separators=(
            "Wiadomość oryginalna",
            "Oryginalna wiadomość",
            "Przekazana wiadomość",
            "Wiadomość przekazana",
            "Początek przekazywanej wiadomości:",
        ),
        sent_from=("Wysłane z …", "Wysłano z …", "Pobierz aplikację Outlook …"),
    ),
    Markers(
        "cs",
        wrote=("Dne … napsal(a):", "… napsal(a):", "… napsal:", "… napsala:"),
        from_labels=("Od",),
        labels=("Odesláno", "Datum", "Komu", "Kopie", "Předmět"),
        separators=(
            "Původní zpráva",
            "Přeposlaná zpráva",
            "Začátek přeposlané zprávy:",
        ),
        sent_from=("Odesláno z …", "Stáhnout Outlook pro …"),
    ),
    Markers(
        "ru",
        wrote=(
            "… пишет:",
            "… написал(а):",
            "… написал:",
            "… написала:",
            # Gmail names no verb: `пн, 3 февр. 2025 г. в 10:00, Имя <адрес>:`
            "… г. в …>:",
        ),
        from_labels=("От",),
        labels=("Отправлено", "Дата", "Кому", "Копия", "Тема"),
        separators=(
            "Исходное сообщение",
            "Оригинальное сообщение",
            "Пересылаемое сообщение",
            "Пересланное сообщение",
            "Начало переадресованного сообщения:",
        ),
        sent_from=("Отправлено с …", "Отправлено из …", "Получить Outlook для …"),
    ),
    Markers(
        "uk",
        wrote=("… пише:", "… написав(ла):", "… написав:", "… написала:"),
        from_labels=("Від",),
        labels=("Надіслано", "Дата", "Кому", "Копія", "Тема"),
        separators=(
            "Початкове повідомлення",
            "Оригінальне повідомлення",
            "Переслане повідомлення",
            "Початок листа, що пересилається:",
        ),
        sent_from=("Надіслано з …", "Отримати Outlook для …"),
    ),
    Markers(
        "tr",
        wrote=("… tarihinde … yazdı:", "… şunu yazdı:", "… şunları yazdı:", "… yazdı:"),
        from_labels=("Kimden",),
        labels=("Gönderildi", "Gönderilme", "Tarih", "Kime", "Bilgi", "Konu"),
        separators=(
            "Özgün İleti",
            "Orijinal İleti",
            "Orijinal mesaj",
            "İletilmiş mesaj",
            "Yönlendirilen ileti",
            "İletilen mesajın başlangıcı:",
        ),
        sent_from=("…'umdan gönderildi", "…'dan gönderildi", "…dan gönderildi", "…den gönderildi"),
    ),
    Markers(
        "ja",
        wrote=("…のメッセージ:", "…さんは書きました:", "… wrote:", "…年…>:"),
        from_labels=("差出人", "送信者"),
        labels=("送信日時", "送信日", "日付", "宛先", "CC", "件名"),
        separators=("元のメッセージ", "転送されたメッセージ:", "転送メッセージ"),
        sent_from=("…から送信", "…から送信されました", "…を入手"),
    ),
    Markers(
        "zh",
        wrote=("…写道:", "…寫道:"),
        from_labels=("发件人", "寄件者", "發件人"),
        labels=(
            "发送时间",
            "时间",
            "日期",
            "收件人",
            "抄送",
            "主题",
            "寄件日期",
            "收件者",
            "副本",
            "主旨",
        ),
        separators=("原始邮件", "原始郵件", "原始信息", "转发的邮件", "以下是转发的邮件:"),
        sent_from=("发自我的…", "發自我的…", "从我的…发送", "從我的…傳送", "获取 Outlook for …"),
    ),
    Markers(
        "ko",
        wrote=("…님이 작성:", "…님이 작성하였습니다:", "… 작성:", "…이(가) 쓴 글:"),
        from_labels=("보낸 사람", "보낸사람"),
        labels=("보낸 날짜", "날짜", "받는 사람", "받는사람", "참조", "제목"),
        separators=("원본 메시지", "원본 메일", "전달된 메시지", "전달된 메일", "전달된 메일:"),
        sent_from=("…에서 보냄", "…에서 보냈습니다"),
    ),
)
