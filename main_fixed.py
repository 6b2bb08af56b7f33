"""uvicorn entry: ``uvicorn main_fixed:app --host 0.0.0.0 --port 8000 --workers 1``."""

from faceswap.api import create_app

app = create_app()
