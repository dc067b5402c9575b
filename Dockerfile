# syntax=docker/dockerfile:1
# The streamer and its consumers in one image: `docker run IMAGE run`, `... consume approvals`, ...
# The default target is that production image; `--target simulator` builds the same image plus the
# API simulator (dev tooling, not in the wheel) for compose and local runs.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY streamer ./streamer
COPY consumers ./consumers
# The same resolution CI tests: the package pinned by constraints.txt, without dev extras.
RUN /opt/venv/bin/pip install -c constraints.txt .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin streamer
COPY --from=build /opt/venv /opt/venv
USER 10001
EXPOSE 8080
ENTRYPOINT ["streamer"]
CMD ["--help"]

FROM runtime AS simulator
COPY --chown=10001 simulator /opt/simulator/simulator
ENV PYTHONPATH=/opt/simulator
CMD ["simulate", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS production
