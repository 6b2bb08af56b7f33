"""RunPod queue worker: ``python handler.py`` on RunPod, ``python handler.py --rp_serve_api`` locally."""

import runpod

from faceswap.config import get_settings
from faceswap.logs import configure_logging
from faceswap.runpod_worker import QueueWorker, quiet_sdk_logs

if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    quiet_sdk_logs()
    worker = QueueWorker(settings)
    worker.load()
    runpod.serverless.start(worker.sdk_config())
