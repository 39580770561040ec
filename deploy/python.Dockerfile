# Neutrino serving a Python app (examples/myapp.py). Build from the repository root:
#   docker build -f deploy/python.Dockerfile -t neutrino-python .
#   docker run --rm -p 8000:8000 neutrino-python
# To serve your own app, COPY it into /app and change the APP argument of CMD.

# Stage 1: compile the orchestrator (TypeScript -> dist/) with the dev dependencies, then drop them.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the "prepare" script would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

# Stage 2: the runtime, with python3 from Debian (the Python SDK needs only the standard library).
FROM node:20-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY python/src ./python/src
COPY examples/myapp.py ./examples/myapp.py
# The unprivileged user the node image ships (uid 1000).
USER node
EXPOSE 8000
# Node itself is PID 1 (not npx, which does not forward SIGTERM): SIGTERM drains, then exits 0.
# --host 0.0.0.0: the default 127.0.0.1 is unreachable from outside the container.
CMD ["node", "bin/neutrino.js", "serve", "examples/myapp.py:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
