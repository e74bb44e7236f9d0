# Dockerfile: moat on an empty image: the static binary, CA certificates and a default config,
# run as a non-root user. It builds offline from make release's output (nothing is downloaded,
# nothing is compiled here), for each architecture make release built:
#
#   make release
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(make -s release-version) -t moat:$(make -s release-version) .
#
# Run it with your own config (the default one expects an origin at http://origin:9000):
#
#   docker run -p 8080:8080 -e MOAT_ADMIN_TOKEN=$(openssl rand -hex 32) \
#     -v $PWD/moat.yaml:/etc/moat/moat.yaml:ro moat:v1.2.3
#
# TARGETARCH is set by BuildKit (the default builder since Docker 23) from --platform.
FROM scratch

ARG VERSION
ARG TARGETARCH

COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY packaging/docker/moat.yaml /etc/moat/moat.yaml
COPY dist/moat_${VERSION}_linux_${TARGETARCH} /moat

# 65532 is "nonroot" in distroless images; scratch has no /etc/passwd, so ids, not names.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/moat"]
CMD ["serve", "--config", "/etc/moat/moat.yaml"]
