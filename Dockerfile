# One image for every Tike command: `tike worker`, `tike gateway`, `tike simulate`, ...
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 tike
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tike ./tike
COPY tike_core ./tike_core
COPY rules ./rules
COPY streams ./streams
COPY simulators ./simulators
COPY gateway ./gateway
COPY tike_cli ./tike_cli
COPY ui_static ./ui_static
RUN pip install --no-cache-dir . && mkdir -p /data && chown tike /data
USER tike
# TIKE_CONTAINER: with TIKE_ENV unset, the image refuses the placeholder secret.
ENV TIKE_STATE_DIR=/data/state TIKE_UI_DIR=/app/ui_static TIKE_CONTAINER=1
ENTRYPOINT ["tike"]
CMD ["--help"]
