# Neutrino serving a TypeScript app (examples/myapp.ts), loaded through tsx without a build step.
# Build from the repository root:
#   docker build -f deploy/typescript.Dockerfile -t neutrino-typescript .
#   docker run --rm -p 8000:8000 neutrino-typescript
# To serve your own app, COPY it into /app and change the APP argument of CMD.

# Stage 1: compile the orchestrator and SDK (TypeScript -> dist/). The runtime keeps tsx (a
# dependency: it loads the .ts app) but not typescript; the example also imports zod, a
# devDependency of this repository (with no dependencies of its own), so the locked copy is kept
# aside across the prune. Your own app's dependencies belong in this stage too.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the "prepare" script would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && mv node_modules/zod /tmp/zod \
 && npm prune --omit=dev \
 && mv /tmp/zod node_modules/zod

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json's "exports" let the app `import { App } from "neutrino-server"` (self-reference).
COPY package.json ./
COPY bin ./bin
COPY examples/myapp.ts ./examples/myapp.ts
# The unprivileged user the node image ships (uid 1000).
USER node
EXPOSE 8000
# Node itself is PID 1 (not npx, which does not forward SIGTERM): SIGTERM drains, then exits 0.
# --host 0.0.0.0: the default 127.0.0.1 is unreachable from outside the container.
CMD ["node", "bin/neutrino.js", "serve", "examples/myapp.ts:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
