# Meeting privacy gateway: a slim image running `privacy-gateway serve`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY bbb_hooks ./bbb_hooks
COPY jitsi_hooks ./jitsi_hooks
COPY privacy_gateway ./privacy_gateway
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin gateway \
    && mkdir -p /etc/privacy-gateway && chown root:gateway /etc/privacy-gateway \
    && mkdir -p /var/lib/privacy-gateway/audit \
    && chown gateway:gateway /var/lib/privacy-gateway/audit
# The durable audit journal: set retention.audit_dir = "/var/lib/privacy-gateway/audit"
# in the policy and keep this volume (and back it up); /readyz fails while it cannot
# be written.
VOLUME ["/var/lib/privacy-gateway/audit"]
# Mount the school's policy at /etc/privacy-gateway/policy.toml (read-only); secrets
# come from the environment or mounted files named in it. No policy is baked in.
USER gateway
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
ENTRYPOINT ["privacy-gateway"]
CMD ["serve", "--config", "/etc/privacy-gateway/policy.toml", "--host", "0.0.0.0", "--port", "8080"]
