# herald: a static binary in a distroless, non-root image.
# Build:  docker build -t herald --build-arg VERSION=$(git describe --tags --always) .
# Run:    docker run -p 8080:8080 -v herald-data:/data \
#           -v "$PWD/herald.yaml:/etc/herald/config/herald.yaml:ro" -e SLACK_WEBHOOK_URL=... herald
#         Listening beyond loopback, herald starts only when every source it
#         serves authenticates (sources: in the config), so the image needs
#         a config; deploy/kubernetes mounts it at the same path.
# CI has no Docker engine: scripts/check-image.sh runs this file's build
# step and checks the result, so the steps cannot rot.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN VERSION=${VERSION} scripts/build.sh /out/herald

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /usr/local/bin/herald
WORKDIR /data
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot
# No shell or curl in distroless: herald checks itself (GET /readyz on
# 127.0.0.1:8080, exit 0 when ready, 1 with the reason otherwise). Serving
# on another port? Give the check the same --listen or --config, in exec
# form (there is no shell for CMD-SHELL or `docker run --health-cmd`): in
# compose, test: ["CMD", "/usr/local/bin/herald", "healthcheck", "--listen",
# "0.0.0.0:9090"]. Kubernetes ignores HEALTHCHECK: its probes hit /healthz
# and /readyz (deploy/).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/herald", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/herald"]
# --listen keeps the port the one EXPOSE and HEALTHCHECK name, whatever the
# config's listen says.
CMD ["serve", "--config", "/etc/herald/config/herald.yaml", "--listen", "0.0.0.0:8080"]
