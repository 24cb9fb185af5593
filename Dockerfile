# PlateOps console, CPU image. Build: docker build -t plateops .   Run: docker run -p 8501:8501 -v plateops:/data plateops
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PLATEOPS_HOME=/data \
    YOLO_CONFIG_DIR=/data/.ultralytics \
    YOLO_OFFLINE=1

# libGL/glib for OpenCV (ultralytics), git for DVC's optional features, tini to reap worker processes, nginx-light
# for `--detect-only --workers N` (several Detect processes behind nginx in one container).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 git tini nginx-light \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 plateops && mkdir -p /data && chown plateops /data
WORKDIR /app

# CPU-only torch first so the pinned install does not pull CUDA wheels into a CPU image.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1 \
 && pip install -r requirements.txt

COPY --chown=plateops . .
USER plateops
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').status != 200)"
ENTRYPOINT ["/usr/bin/tini", "--"]
# A container must listen on 0.0.0.0 to be reachable through its published port, so the image says --allow-open:
# publish it on loopback only (-p 127.0.0.1:8501:8501) or mount a secrets.toml with users; see README "Security".
# Scaled out (README "Scaling out the Detect page", deploy/k8s/): the same image runs the public Detect replicas with
#   python -m ui.launch --detect-only --server.address=0.0.0.0 --server.port=8501            (one per pod), or
#   python -m ui.launch --detect-only --workers 2 --server.address=0.0.0.0 --server.port=8501 (nginx inside),
# each with PLATEOPS_DATABASE_URL pointing at the team's PostgreSQL and the workspace volume mounted.
CMD ["python", "-m", "ui.launch", "--server.port=8501", "--server.address=0.0.0.0", "--allow-open"]
