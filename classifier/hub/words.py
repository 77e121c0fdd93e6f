"""The download's sentences: each failure of the hub, the network or the disk, told with its cause
and a remedy (split from download.py and locate.py, which call them)."""

import os
import shutil

from classifier.base.errors import quoted
from classifier.hub import partial as hub_partial
from classifier.hub.checks import shown
from classifier.hub.download_progress import duration, megabytes
from classifier.hub.settings import ATTEMPTS, deadline_seconds, endpoint, hub_url, is_offline


def stalled_sentence(model, watch):
    silence = f"{duration(deadline_seconds())}, {ATTEMPTS} veces"
    if watch.files is not None and not watch.ever_received:
        return (f"No se pudo descargar el modelo {quoted(model)}: Hugging Face ({hub_url()}) dio la lista de sus "
                f"archivos pero no envió ninguno ({silence}). Un cortafuegos o un proxy que deja pasar la API y "
                "bloquea los archivos hace esto: pruebe otra red, o pregunte a quien administra la suya.")
    return (f"No se pudo descargar el modelo {quoted(model)}: Hugging Face ({hub_url()}) dejó de enviar datos "
            f"durante {silence} seguidas. Compruebe la conexión y vuelva a ejecutar el programa.")


def proxy():
    """The proxy the client uses for the hub, as scheme://host:port (never its password); None without one."""
    import urllib.parse
    import urllib.request

    address = urllib.parse.urlsplit(endpoint())
    if address.hostname and urllib.request.proxy_bypass_environment(address.hostname):
        return None  # NO_PROXY names the hub
    names = ("HTTPS_PROXY", "https_proxy") if address.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    value = next((os.environ[name] for name in (*names, "ALL_PROXY", "all_proxy") if os.environ.get(name)), None)
    if value is None:
        return None
    proxy = urllib.parse.urlsplit(value if "://" in value else f"http://{value}")
    try:
        port = f":{proxy.port}" if proxy.port else ""
    except ValueError:
        port = ""
    return f"{proxy.scheme}://{proxy.hostname or ''}{port}"


def disk_sentence(cache, free, needed):
    need = f" y hacen falta unos {megabytes(needed)} MB" if needed else ""
    return (f"No hay espacio en el disco para descargar el modelo: quedan {megabytes(free)} MB en {quoted(cache)}"
            f"{need}. Libere espacio o elija otra carpeta con la variable de entorno HF_HOME, y vuelva a "
            "ejecutar el programa.")


def error_sentence(model, revision, error, watch, cache):
    kind = error.get("kind")
    if kind == "disk":
        free = error.get("free")
        if free is None:
            free = shutil.disk_usage(cache).free
        needed = error.get("needed", watch.total - hub_partial.complete_bytes(watch.blobs, watch.files)
                           if watch.files else None)
        return disk_sentence(cache, free, needed)
    if kind == "proxy" or (kind == "http" and error.get("status") == 407) or (kind == "network" and proxy()):
        where = f" ({proxy()})" if proxy() else ""
        return (f"El proxy{where} no dejó descargar el modelo {quoted(model)}: revise las variables HTTPS_PROXY "
                "y HTTP_PROXY o pregunte a quien administra su red.")
    if kind == "http":
        status = error.get("status")
        if status in (401, 403) or error.get("gated"):
            return (f"El modelo {quoted(model)} es privado o de acceso restringido en Hugging Face (error {status}): "
                    "acepte sus condiciones en su página e inicie sesión con «hf auth login», o use otro modelo.")
        if error.get("revision"):
            return f"La revisión «{revision}» no existe en el modelo {quoted(model)} (error {status})."
        if error.get("file"):
            return (f"Hugging Face ({hub_url()}) lista el archivo {shown(error['file'])} del modelo "
                    f"{quoted(model)} "
                    f"pero no lo sirve (error {status}): el modelo existe, pero su copia en ese servidor está "
                    "incompleta. Pruebe más tarde u otro servidor (HF_ENDPOINT), o use --modelo CARPETA.")
        if status == 404 and not error.get("hub_said"):
            return (f"La dirección {hub_url()} (HF_ENDPOINT) respondió 404 a la lista de archivos sin decir, como "
                    "haría Hugging Face, que el modelo no existe: revise la variable HF_ENDPOINT (solo el servidor, "
                    "sin ruta detrás, por ejemplo HF_ENDPOINT=https://hf-mirror.com) y el nombre del modelo.")
        if status == 404:
            return (f"El modelo {quoted(model)} no existe en Hugging Face (error 404): revise el nombre, "
                    "o use --modelo CARPETA.")
        if status is not None and status >= 500:
            return f"Hugging Face no está disponible ahora (error {status}): pruebe más tarde."
        return f"Hugging Face rechazó la descarga del modelo {quoted(model)} (error {status})."
    if kind == "network":
        if watch.files and watch.done > 0:
            return (f"La descarga del modelo {quoted(model)} se cortó al {round(watch.done / watch.total * 100)} % "
                    f"({megabytes(watch.done)} de {megabytes(watch.total)} MB): se perdió la conexión con "
                    f"Hugging Face ({hub_url()}). Compruebe la conexión y vuelva a ejecutar el programa: los "
                    "archivos ya completos se aprovechan.")
        return offline_message(model)
    if kind == "unwritable":
        return (f"No se puede escribir en la caché de modelos {quoted(cache)} ({error.get('reason')}): dé permiso "
                "de escritura a esa carpeta, o elija otra con la variable de entorno HF_HOME.")
    if kind == "not_hub":
        return (f"La dirección {hub_url()} (HF_ENDPOINT) no responde como Hugging Face: revise la variable "
                "HF_ENDPOINT o bórrela para usar huggingface.co.")
    if kind == "unsafe":
        return (f"El servidor {hub_url()} no es de fiar: {error.get('detail')}. El programa no lo ha seguido ni ha "
                "escrito nada fuera de la caché; use huggingface.co (borre HF_ENDPOINT) u otro servidor, "
                "o --modelo CARPETA.")
    if kind == "tls":
        return tls_sentence(error.get("verify"))
    if kind == "malformed":
        return (f"El servidor {hub_url()} envió una respuesta HTTP no válida ({error.get('what')}) al pedir el "
                f"modelo {quoted(model)}: no es un corte de la red y volver a ejecutar no lo arregla. Use "
                "huggingface.co (borre HF_ENDPOINT) u otro servidor, o --modelo CARPETA; detrás de un proxy, "
                "pregunte a quien administra su red.")
    if kind == "rate_limited":
        wait = error.get("wait")
        asked = f"pidió esperar {duration(wait)}" if isinstance(wait, int) else "pidió esperar sin decir cuánto"
        return (f"Hugging Face ({hub_url()}) {asked} antes de servir el modelo {quoted(model)} (error 429, "
                "demasiadas peticiones): vuelva a ejecutar el programa pasado ese tiempo.")
    if kind == "redirects":
        return (f"La dirección {hub_url()} (HF_ENDPOINT) redirige sin fin (un bucle de redirecciones): revise la "
                "variable HF_ENDPOINT o bórrela para usar huggingface.co.")
    if kind == "size":
        return (f"Hugging Face ({hub_url()}) anunció un tamaño para un archivo del modelo {quoted(model)} y envió "
                "otro: el servidor o un proxy lo altera. Pruebe otra red u otro servidor (HF_ENDPOINT), o use "
                "--modelo CARPETA.")
    return (f"No se pudo descargar el modelo {quoted(model)} (error inesperado: {error.get('detail', kind)}). "
            "Vuelva a ejecutar el programa: lo ya descargado se aprovecha.")


def offline_message(model):
    if is_offline():
        variable = next((f"{name}={os.environ[name]}" for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
                         if os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE")), "HF_HUB_OFFLINE=1")
        return (f"El modelo {quoted(model)} no está en la caché de este equipo y la variable de entorno {variable} "
                "prohíbe descargarlo: bórrela (o ponga HF_HUB_OFFLINE=0) y ejecute el programa una vez con "
                "conexión, o use --modelo CARPETA.")
    return (
        f"No se pudo descargar el modelo {quoted(model)}: no hay conexión con Hugging Face ({hub_url()}) y el "
        "modelo no está en la caché de este equipo. Conéctese a internet y ejecute el programa una vez "
        "(la descarga queda guardada), o traiga la carpeta del modelo de un equipo que lo tenga (docs/descarga.md) y "
        "use --modelo CARPETA."
    )


def connecting_text():
    return f"Conectando con Hugging Face ({hub_url()})…"


# OpenSSL's reasons for refusing a certificate (ssl.SSLCertVerificationError.verify_message), in words.
_CERTIFICATE = (
    ("self-signed", "está firmado por el propio servidor"),
    ("self signed", "está firmado por el propio servidor"),
    ("issuer", "lo firma una autoridad que este equipo no conoce"),
    ("expired", "ha caducado (o la fecha de este equipo está mal)"),
    ("not yet valid", "aún no es válido (o la fecha de este equipo está mal)"),
    ("mismatch", "es de otro servidor"),
)


def tls_sentence(verify):
    """A TLS failure: a certificate refused (verify: OpenSSL's reason), or no TLS at all on that port."""
    if verify is None:
        return (f"No se pudo establecer una conexión segura (HTTPS) con {hub_url()}: ese servidor no responde "
                "con HTTPS en ese puerto. Revise la variable HF_ENDPOINT (quizá empiece por http://) o bórrela "
                "para usar huggingface.co.")
    why = next((words for key, words in _CERTIFICATE if key in verify.lower()), "no es de confianza")
    return (f"No se pudo establecer una conexión segura con {hub_url()}: su certificado {why}. Ocurre con la "
            "fecha y la hora del equipo mal puestas, o en una red (de un centro de estudios, de una empresa) "
            "cuyo proxy inspecciona las conexiones: compruebe la fecha, pida a quien administra la red su "
            "certificado e instálelo en el sistema (o nómbrelo con la variable SSL_CERT_FILE), o use otra red.")
