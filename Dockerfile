# herald: a static binary in a distroless, non-root image.
# Build:  docker build -t herald --build-arg VERSION=$(git describe --tags --always) .
# Run:    docker run -p 8080:8080 -v herald-data:/data -e SLACK_WEBHOOK_URL=... herald
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
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
