"""Languages of the panel: Tornado's CSV translations (webadmin/locale/zh_CN.csv; English is the source text).
Strings in templates are wrapped in the underscore function, in Python marked with N_ (marked, translated when shown); a test
fails when any of them lacks a Chinese translation."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import tornado.locale

from .nav import NAV

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"zh_CN": "中文", "en_US": "English"}


def N_(text: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for translation where it is defined; it is translated where it is shown."""
    return text


# Strings the browser scripts show (sent to the page as a JSON map in the user's language).
JS_STRINGS = [
    N_("Connected"), N_("Reconnecting..."), N_("Saved"), N_("Failed"), N_("Are you sure?"), N_("Loading..."),
    N_("Nothing here yet"), N_("Close"), N_("Error"), N_("seconds"), N_("minutes"),
]

# Configuration pages (static/js/config.js).
JS_STRINGS += [N_("Deleted"), N_("Revoke"), N_("Copied"),
               N_("Name: a lowercase letter, then lowercase letters, digits, - or _ (at most 32).")]

# Supervisor wallboard (static/js/wallboard.js): agent and call states, reasons, actions, dialogs.
JS_STRINGS += [
    N_("Ready"), N_("Not ready"), N_("On call"), N_("Wrap-up"), N_("Ringing"), N_("Logged out"),
    N_("Outbound call"), N_("Waiting"), N_("Ringing agent"), N_("Talking"), N_("On hold"), N_("In IVR"),
    N_("Ending"), N_("Lunch"), N_("Break"), N_("Training"), N_("Meeting"), N_("Missed calls"), N_("idle"),
    N_("busy"), N_("down"), N_("Listen"), N_("Whisper"), N_("Barge"), N_("Transfer"), N_("Hang up"),
    N_("Log out"), N_("Change state"), N_("Cancel"), N_("Extension"), N_("Queue"), N_("Outside number"),
    N_("Target"), N_("Transfer to"), N_("Trunks"), N_("Stations"), N_("No agents"), N_("No calls in progress"),
    N_("No queues configured"), N_("unknown caller"), N_("Call ended."), N_("Transferred."), N_("State changed."),
    N_("Enter your phone's extension first."), N_("Number or extension is required."),
    N_("The call in progress goes on; the agent gets no new calls."), N_("(%(n)s ready)"), N_("+%(n)s short"),
    N_("Answered within %(sl)s s: %(in)s of %(offered)s offered. Hang-ups within %(short)s s: %(n)s, not offered."),
    N_("Abandoned callers who hung up within %(s)s s are not counted."),
    N_("Hang up this call from %(caller)s?"), N_("Joined the call (%(mode)s)."), N_("Log out agent %(agent)s?"),
    N_("Supervised by %(who)s (%(mode)s)"), N_("Transfer the call from %(caller)s"),
    N_("Your phone %(ext)s is ringing: answer it to join the call."),
]

# Knowledge base (static/js/kb.js): faxing an article.
JS_STRINGS += [N_("Fax queued"), N_("queued"), N_("Fax number: enter 5 to 20 digits.")]

# Agent desk and inbox (static/js/desk.js, static/js/inbox.js): states, screen pop, worklists, messages.
JS_STRINGS += [
    N_("Acknowledge"), N_("Add customer"), N_("Address"), N_("Area"), N_("Call back"), N_("Call from"),
    N_("Callback"), N_("Callback queued"), N_("Callback requested"), N_("Caller identified"),
    N_("Choose who gets the message"), N_("Connecting"), N_("Could not call"), N_("Could not create the ticket"),
    N_("Could not log in"), N_("Could not log out"), N_("Could not send"), N_("Create ticket"), N_("Customer"),
    N_("Dialling"), N_("Done"), N_("Enter a number"), N_("Enter your station's extension"), N_("Entered"),
    N_("Escalated ticket"), N_("Fax requested"), N_("Faxes"), N_("In the menus"), N_("Incoming call"),
    N_("Invalid entry"), N_("Language"), N_("Live"), N_("Logged in"), N_("Lookup"), N_("Lookup failed"),
    N_("Mark as read"), N_("Member PIN"), N_("Member no."), N_("Menu choice"), N_("Message"), N_("Message from"),
    N_("No abandoned calls today."), N_("No call right now."), N_("No callbacks waiting."),
    N_("No customer has this number."), N_("No earlier calls."), N_("No faxes."), N_("No key pressed"),
    N_("No messages."), N_("No open tickets."), N_("No tickets yet."), N_("No valid entry"),
    N_("Not a member of any queue"), N_("Open ticket"), N_("Open tickets"), N_("Phone"), N_("Recent calls"),
    N_("Recent tickets"), N_("Sent"), N_("Sent; they will see it when they open the panel"),
    N_("The caller went straight to the queue."), N_("Ticket created"), N_("Ticket opened"), N_("To"),
    N_("Unknown caller"), N_("Unknown number"), N_("Voicemail"), N_("Waited"), N_("Went back"),
    N_("Write a message"), N_("Wrong key"), N_("Your phone rings: pick it up to call"), N_("correct"), N_("found"),
    N_("from"), N_("key"), N_("not found"), N_("waiting"), N_("wrong"), N_("connected"), N_("answered"),
    N_("unanswered"), N_("refused"), N_("interrupted"), N_("sending"), N_("sent"), N_("failed"), N_("cancelled"),
    N_("Last call"), N_("Fax"), N_("No articles found."), N_("After hours"), N_("Dialled when the queue opens"),
    N_("+%(n)s callbacks"), N_("Callbacks keep the callers' place: an agent is rung first, then the customer."),
]

# Flow editor and dry run, prompts (static/js/flows.js, static/js/prompts.js).
JS_STRINGS += [
    N_("Warning"), N_("%(n)s problem"), N_("Valid (%(n)s warning)"), N_("%(n)s problems"), N_("Checking..."), N_("Valid, not saved"), N_("Valid (%(n)s warnings)"),
    N_("Valid"), N_("version %(n)s"), N_("changed"), N_("last valid version"),
    N_("Fix the problems to see the menu tree."), N_("start"), N_("on error"), N_("shown above"),
    N_("Not reachable"), N_("active"), N_("draft"), N_("earlier"), N_("Edit"), N_("Roll back to this"),
    N_("Publish"), N_("Discard your changes?"), N_("Roll back to version %(n)s? New calls will use it at once."),
    N_("Publish version %(n)s? New calls will use it at once."), N_("Rolled back to version %(n)s"),
    N_("Version %(n)s is published"), N_("Version %(n)s was already published"),
    N_("Saved as version %(n)s (not published)"), N_("Same as version %(n)s"),
    N_("Publish this version? New calls will use it at once."), N_("Ended"), N_("Calling..."), N_("Ringing"),
    N_("Idle"), N_("Answered"), N_("Pressed %(key)s: go to %(target)s"), N_("Key %(key)s is not an option"),
    N_("No key pressed"), N_("Menu repeated"), N_("Back to %(target)s"), N_("Too many tries: go to %(target)s"),
    N_("Language: %(language)s"), N_("Entered %(var)s = %(value)s"), N_("Entry not accepted: %(value)s"),
    N_("No valid %(var)s entered"), N_("Looked up %(table)s: found"), N_("Looked up %(table)s: not found"),
    N_("Business hours: %(state)s"), N_("Branch: go to %(target)s"), N_("Blocked number: %(reason)s"),
    N_("Number not blocked"), N_("Queue %(queue)s"), N_("Queue result: %(result)s"),
    N_("Transfer to %(target)s: %(result)s"), N_("The flow hung up"), N_("End of the block: hung up"),
    N_("Error in %(app)s: %(error)s"), N_("Played %(prompt)s"), N_("Call from %(caller_id)s"),
    N_("The box answered"), N_("Call ended (%(cause)s)"), N_("Error: %(error)s"),
    N_("The dry run uses a saved version: save your changes to try them"),
    N_("Recorded"), N_("Speech (TTS)"), N_("Missing"), N_("Use TTS"), N_("Regenerate TTS"),
    N_("Replace the recording with speech? The recording is kept aside."), N_("%(id)s: speech generated"),
    N_("Station %(ext)s is ringing: pick up to record %(id)s."), N_("%(id)s: recording uploaded"),
    N_("Choose a WAV file."), N_("Recording %(id)s: speak after the beep, then press #."),
    N_("%(id)s recorded by phone and saved."), N_("%(id)s: nothing was saved."),
    N_("Station %(ext)s did not answer."), N_("%(id)s: the recording call failed."),
]

# Values shown through _(value): roles, component and line states, line kinds.
DYNAMIC = [
    N_("admin"), N_("supervisor"), N_("agent"), N_("qa"), N_("metrics"),
    N_("serving"), N_("starting"), N_("draining"), N_("stopping"), N_("up"), N_("down"), N_("unknown"),
    N_("degraded"), N_("trunk"), N_("station"), N_("idle"), N_("busy"),
]

# Mails the daemon writes (daemon/fax/delivery.py, daemon/mail/voicemail.py), translated through tornado.locale.
MAIL_STRINGS = [
    N_("A fax was received."), N_("From: %(caller)s"), N_("Pages: %(pages)s"), N_("Received: %(time)s"),
    N_("Customer: %(customer)s"), N_("Ticket: %(ticket)s"), N_("Fax from %(caller)s, %(pages)s pages"),
    N_("The fax is attached as a PDF; it is also in the panel's fax inbox (fax #%(id)s)."),
    N_("Voicemail from %(caller)s in mailbox %(mailbox)s (%(seconds)s s)"), N_("A new voicemail was left."),
    N_("Mailbox: %(mailbox)s"), N_("Length: %(seconds)s s"), N_("Left at: %(time)s"),
    N_("The recording is attached; it is also on the panel's voicemail page."), N_("unknown caller"),
]

tornado.locale.load_translations(str(LOCALE_DIR))
tornado.locale.set_default_locale("en_US")


# the QA simulator console (static/js/simconsole.js): actions and call / phone states
JS_STRINGS += [N_("Send keys"), N_("Heard (WAV)"), N_("Hang up"), N_("Answer"), N_("Dial"), N_("Number"),
               N_("Keys"), N_("ringing"), N_("answered"), N_("bridged"), N_("ending"), N_("calling"),
               N_("connected")]
JS_STRINGS += [N_("E-mail sent")]
JS_STRINGS += [N_("Choose a reason first"), N_("Keys heard")]
JS_STRINGS += [N_("Received fax")]   # desk.js: a fax from the caller in the screen pop's history

def js_strings(locale: tornado.locale.Locale) -> dict[str, str]:
    """The scripts' strings in one language."""
    return {s: locale.translate(s) for s in JS_STRINGS}


def span(seconds: float | None, locale: tornado.locale.Locale) -> str:
    """How long something lasted (uptime, an age), the one way every page says it: "3 min 47 s", "2 h 5 min",
    "4 d 3 h"; "–" for unknown."""
    if seconds is None:
        return "–"
    s = max(0, int(seconds))
    if s >= 86400:
        return locale.translate("%(d)d d %(h)d h") % {"d": s // 86400, "h": s % 86400 // 3600}
    if s >= 3600:
        return locale.translate("%(h)d h %(m)d min") % {"h": s // 3600, "m": s % 3600 // 60}
    return locale.translate("%(m)d min %(s)d s") % {"m": s // 60, "s": s % 60}


def nav_for(role: str | None) -> list[dict[str, Any]]:
    """Navigation groups with the entries this role may open (admin sees everything)."""
    if role is None:
        return []
    groups: list[dict[str, Any]] = []
    for group, entries in NAV:
        allowed = [e for e in entries if role == "admin" or role in e["roles"]]
        if allowed:
            groups.append({"label": group, "entries": allowed})
    return groups


_MARKED = re.compile(r"""(?<![A-Za-z0-9])(?:_|N_|translate)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)%]""")


def extract_strings(root: Path | None = None) -> dict[str, list[str]]:
    """Every marked string in the panel's templates, scripts' list and Python files -> where it appears."""
    root = root or Path(__file__).parent
    found: dict[str, list[str]] = {}
    files = [*sorted((root / "templates").rglob("*.html")), *sorted(root.rglob("*.py"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        for m in _MARKED.finditer(text):
            s = m.group(1) if m.group(1) is not None else m.group(2)
            s = s.encode().decode("unicode_escape") if "\\" in s else s
            line = text.count("\n", 0, m.start()) + 1
            found.setdefault(s, []).append(f"{path.relative_to(root)}:{line}")
    return found


def missing(language: str = "zh_CN") -> dict[str, list[str]]:
    """Marked strings without a translation in a language (English is the source: none missing)."""
    if language == "en_US":
        return {}
    table = _read_csv(LOCALE_DIR / f"{language}.csv")
    return {s: where for s, where in extract_strings().items() if s not in table}


def _read_csv(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8", newline="") as f:
        return {row[0]: row[1] for row in csv.reader(f) if len(row) >= 2 and row[1]}


def main() -> int:
    """scripts/i18n-missing: print untranslated strings with where they are used."""
    gaps = missing()
    for s, where in sorted(gaps.items()):
        print(f'"{s}",""    # {", ".join(where[:3])}')
    return 1 if gaps else 0


# ---- validator messages (dialplan/schema.py and the ACD checks) in Chinese ----------------------------------
# They are built from parts (what was expected, what was found), so they are translated by pattern here
# rather than as whole strings in the CSV file.
_ZH_WORDS = [
    (re.compile(r"^one of (.+)$"), lambda m: "以下之一：" + m.group(1)),
    (re.compile(r"^(a string|an integer|a number|true or false|a mapping|a list|text|null)(.*)$"),
     lambda m: {"a string": "文本", "an integer": "整数", "a number": "数字", "true or false": "true 或 false",
                "a mapping": "映射", "a list": "列表", "text": "文本", "null": "空值"}[m.group(1)]
     + _zh_bounds(m.group(2))),
]


def _zh_bounds(text: str) -> str:
    text = text.strip()
    m = re.fullmatch(r"from (\S+) to (\S+)", text)
    if m:
        return f"（{m.group(1)} 到 {m.group(2)}）"
    m = re.fullmatch(r"(>=|<=) (\S+)", text)
    if m:
        return f"（{'至少' if m.group(1) == '>=' else '最多'} {m.group(2)}）"
    return f" {text}" if text else ""


def _zh_what(text: str) -> str:
    for pattern, make in _ZH_WORDS:
        m = pattern.match(text)
        if m:
            return make(m)
    return text


def _zh_hint(hint: str | None) -> str:
    return f"（是否想输入 {hint}？）" if hint else ""


_ZH_MESSAGES = [
    (re.compile(r"^expected (?P<want>.+?), got (?P<got>.+?)(?: \(did you mean (?P<hint>.+)\?\))?$"),
     lambda m: f"应为{_zh_what(m.group('want'))}，实际为 {_zh_what(m.group('got'))}{_zh_hint(m.group('hint'))}"),
    (re.compile(r"^(?P<value>.+) does not match the expected form (?P<form>.+)$"),
     lambda m: f"{m.group('value')} 不符合要求的格式：{m.group('form')}"),
    (re.compile(r"^unknown key(?: \(did you mean (?P<hint>.+)\?\))?$"),
     lambda m: "未知的设置项" + _zh_hint(m.group("hint"))),
    (re.compile(r"^is required$"), lambda m: "为必填项"),
    (re.compile(r"^appears twice$"), lambda m: "重复出现"),
    (re.compile(r"^key does not match (?P<p>.+)$"), lambda m: f"名称不符合格式 {m.group('p')}"),
    (re.compile(r"^no agent named (?P<n>.+)$"), lambda m: f"没有名为 {m.group('n')} 的坐席"),
    (re.compile(r"^overflow: queue needs an existing overflow_queue$"),
     lambda m: "溢出到队列时，需要填写一个已存在的溢出队列"),
    (re.compile(r"^cannot be changed: delete the agent and create a new one$"),
     lambda m: "不能修改：请删除该坐席后重新创建"),
    (re.compile(r"^empty document$"), lambda m: "文档为空"),
]


def translate_problem(message: str, locale: tornado.locale.Locale | None) -> str:
    """A validator message in the user's language (English stays as it is)."""
    if locale is None or not locale.code.startswith("zh"):
        return message
    for pattern, make in _ZH_MESSAGES:
        m = pattern.match(message)
        if m:
            return make(m)
    return message
