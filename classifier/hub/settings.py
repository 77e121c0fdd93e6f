"""The hub's settings from the environment, checked before huggingface_hub reads them.

huggingface_hub 2.5 reads them once, when imported (constants.py): int() of
HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT (a traceback on «abc»), HF_ENDPOINT as
given (a traceback later on «http://[::1», «no connection» on «127.0.0.1:8820»), and
an empty HF_HOME as the current folder. transformers imports it too, so this runs first.
"""

import os
import urllib.parse

ENDPOINT_EXAMPLE = "HF_ENDPOINT=https://hf-mirror.com"
DEADLINE_VARIABLE = "CLASIFICADOR_HUB_PLAZO"
DEFAULT_DEADLINE_S = 30.0
ATTEMPTS = 3  # the first one and two retries, each resuming what the others left
# Only these files are fetched from the hub: no pickle weights, no remote code.
HUB_PATTERNS = ["*.json", "*.safetensors"]
# The model is the repository's top level: a sub-folder (a Trainer's last-checkpoint/, onnx/) is never read,
# and fnmatch's * would match across its «/».
HUB_IGNORED = ["*/*"]
POLL_S = 0.1  # how often the parent and the child look at each other
_HOMES = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")
_WHOLE_SECONDS = ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")
# Read at import by huggingface_hub (utils/logging.py) and transformers (utils/logging.py): an unknown
# level prints an English warning there.
_DEFERRED = {}  # variable -> its sentence: a setting told only when the hub is needed
_LEVELS = {"HF_HUB_VERBOSITY": ("debug", "info", "warning", "error", "critical"),
           "TRANSFORMERS_VERBOSITY": ("detail", "debug", "info", "warning", "error", "critical")}


def without_password(value):
    """An address as it may be shown: a password in it (http://user:password@host) becomes ***."""
    try:
        address = urllib.parse.urlsplit(value)
        if address.password is None:
            return value
        host = address.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit(address._replace(netloc=f"{address.username}:***@{host}"))
    except ValueError:
        return value.split("@")[-1] if "@" in value else value


def endpoint_problem(value):
    """Why an HF_ENDPOINT value cannot be used, in words; None when it can."""
    text = value  # the client uses it as given (only a trailing / is cut): a space is a broken address
    if any(c.isspace() or not c.isprintable() for c in text):
        return "tiene espacios o caracteres que no se pueden escribir en una dirección"
    if "://" not in text:
        return "le falta el esquema (http:// o https://) al principio"
    try:
        address = urllib.parse.urlsplit(text)
        port = address.port
    except ValueError:
        return "no es una dirección válida (revise los corchetes y el puerto, de 1 a 65535)"
    if address.scheme.lower() not in ("http", "https"):
        return f"usa el esquema «{address.scheme}»; solo sirven http y https"
    if not address.hostname:
        return "no nombra ningún servidor"
    if port == 0:
        return "su puerto no es válido (de 1 a 65535)"
    if address.query or address.fragment:
        return "lleva una consulta (?…) o un fragmento (#…), que un hub no usa"
    return None


def check(model_is_local, environ=None):
    """None, or the sentence for the first malformed setting. An empty folder setting counts as unset.

    A local model needs none of them: a malformed one is dropped from this process's
    environment (so that transformers imports) and not reported."""
    environ = os.environ if environ is None else environ
    for name in _HOMES:
        if name in environ and not environ[name].strip():
            del environ[name]  # «HF_HOME=» from an unset shell variable: the default, not ./hub
    problems = []
    value = environ.get("HF_ENDPOINT")
    if value is not None:
        why = endpoint_problem(value) if value.strip() else "está vacía"
        if why:
            value = without_password(value)
            problems.append(("HF_ENDPOINT", f"La variable de entorno HF_ENDPOINT ({value!r}) {why}: use una dirección "
                                            f"completa, por ejemplo {ENDPOINT_EXAMPLE}, o bórrela para usar "
                                            "huggingface.co."))
    for name in _WHOLE_SECONDS:
        value = environ.get(name)
        if value is not None and not (value.strip().isdigit() and int(value) < 10**6):
            problems.append((name, f"La variable de entorno {name} ({value!r}) no es un número entero de segundos: "
                                   f"use, por ejemplo, {name}=30, o bórrela."))
    for name, levels in _LEVELS.items():
        value = environ.get(name)
        if value is not None and value not in levels:
            problems.append((name, f"La variable de entorno {name} ({value!r}) no es un nivel de mensajes: use, "
                                   f"por ejemplo, {name}=warning, o bórrela."))
    _DEFERRED.clear()
    if model_is_local:
        for name, _ in problems:
            environ.pop(name, None)
        return None
    # The endpoint is needed only to reach the hub: a cached model runs without it, offline too. Dropped
    # here (the client parses it at import) and told before any connection (hub.model_folder, hub.repair).
    for name, sentence in problems:
        if name == "HF_ENDPOINT":
            environ.pop(name, None)
            _DEFERRED[name] = sentence
    problems = [problem for problem in problems if problem[0] != "HF_ENDPOINT"]
    return problems[0][1] if problems else None


def endpoint_refused():
    """The sentence for a malformed HF_ENDPOINT, once the hub is needed; None when it is well formed."""
    return _DEFERRED.get("HF_ENDPOINT")


def endpoint_usable():
    """Before the hub is reached: a malformed HF_ENDPOINT (check) is told now, when it matters."""
    from classifier.base.errors import ModelLoadError

    problem = endpoint_refused()
    if problem is not None:
        raise ModelLoadError(problem)


def no_agent_registry():
    """huggingface_hub 2.5 fetches {ENDPOINT}/api/agent-harnesses once a process, for its User-Agent, and
    stores the answer, unchecked and unbounded, as HF_HOME/.agent_harnesses.json (utils/_detect_agent.py),
    a file outside the model's folder written from a hub's words. Its in-process registry set empty up
    front (what it uses itself when the hub is unreachable): nothing is asked, nothing written."""
    from huggingface_hub.utils import _detect_agent

    _detect_agent._registry = _detect_agent._EMPTY_REGISTRY


def deadline_seconds():
    """CLASIFICADOR_HUB_PLAZO seconds without a byte end an attempt (default 30); bad values mean the default."""
    try:
        value = float(os.environ.get(DEADLINE_VARIABLE, ""))
    except ValueError:
        return DEFAULT_DEADLINE_S
    return value if 0 < value < 86400 else DEFAULT_DEADLINE_S


def is_offline():
    from huggingface_hub import constants

    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def endpoint():
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_url():
    """HF_ENDPOINT as a sentence may show it: never its password."""
    return without_password(endpoint())
