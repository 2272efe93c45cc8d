# socialrec runtime image: the CLI (load / export / train) and the HTTP API (serve).
# CPU-only torch, installed explicitly from the PyTorch CPU index (the default index pulls CUDA).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OMP_NUM_THREADS=1 \
    OMP_WAIT_POLICY=PASSIVE

WORKDIR /app

COPY requirements.lock ./
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
 && grep -vE '^(torch|arcadedb-embedded|cynetdiff|mypy|mypy_extensions|ruff|pytest|pytest-timeout|nbmake|hypothesis|schemathesis|locust)==' \
        requirements.lock > requirements.runtime.txt \
 && pip install -r requirements.runtime.txt

COPY pyproject.toml README.md ./
COPY graph ./graph
COPY gnn ./gnn
COPY serving ./serving
COPY api ./api
COPY socialrec ./socialrec
RUN pip install --no-deps . \
 && useradd --create-home --uid 10001 socialrec \
 && mkdir -p /models \
 && chown socialrec /models

USER socialrec
ENV SOCIALREC_WORK_DIR=/models
EXPOSE 8000
ENTRYPOINT ["socialrec"]
CMD ["serve", "--host", "0.0.0.0"]
