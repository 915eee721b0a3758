# Uvelka gateway: runtime image (no training extras).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /opt/uvelka
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY drivers ./drivers
COPY analytics ./analytics
COPY web ./web
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /var/lib/uvelka --create-home uvelka \
 && mkdir -p /etc/uvelka && chown uvelka /var/lib/uvelka /etc/uvelka

# Owned by the gateway's user: the web page activates uploaded models in place.
COPY --chown=uvelka models_onnx /opt/uvelka/models_onnx

USER uvelka
WORKDIR /var/lib/uvelka
# The configuration is /etc/uvelka/gateway.toml: mount the folder, not the file, so that
# the web page can save edits (it writes beside the file and renames it over, keeping a
# .bak). What must survive a restart or a new container lives in the volume (data_dir,
# ./var by default): alarm states, the MQTT outbox with the messages waiting for the
# broker, the RUL commissioning states, users, the audit log, history, model archive.
VOLUME ["/var/lib/uvelka"]
EXPOSE 4840 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["uvelka", "healthcheck", "-c", "/etc/uvelka/gateway.toml"]

ENTRYPOINT ["uvelka"]
CMD ["run", "-c", "/etc/uvelka/gateway.toml"]
