# syntax=docker/dockerfile:1
# forkwatch's container image: `docker build -t forkwatch .` (README, "Run with Docker").
#
# The builder is the README's set-up on a fresh clone: the build context is the clone
# (.dockerignore leaves out what git ignores), and `npm ci` builds everything through the
# package's own lifecycle scripts, as `npm install` does: `install` compiles the native
# addon with node-gyp, `prepare` compiles the TypeScript with tsc. The package stage puts
# the results beside the production dependencies only: no compiler, no TypeScript. The
# image is the runtime stage with that package.

# One base for every stage, so the addon is compiled against the Node.js that runs it.
# A current LTS; forkwatch needs >= 20 (package.json engines).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# node-gyp's needs, as the README's set-up lists them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers this Node.js ships in /usr/local/include/node, the
# ones it runs with, instead of downloading a copy (npm's nodedir, as on the project's
# machines).
ENV npm_config_nodedir=/usr/local
WORKDIR /src
COPY . .
RUN npm ci

FROM ${NODE_IMAGE} AS package
WORKDIR /opt/forkwatch
# Production dependencies from the same lockfile. --ignore-scripts: the package's own
# install and prepare scripts would rebuild the addon and run tsc, which are the builder's
# job (and tsc is a dev dependency); no production dependency needs a script.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
# Where src/kernel/binding.ts loads the addon from, and the compiled forkwatch command.
COPY --from=build /src/build/Release/forkwatch.node build/Release/forkwatch.node
COPY --from=build /src/dist/src dist/src

# The image, but for the package.
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
LABEL org.opencontainers.image.title="forkwatch" \
      org.opencontainers.image.description="Prometheus exporter for Linux process creation: counts every fork from the kernel's process-event connector, exactly, with loss accounting." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
WORKDIR /opt/forkwatch
# root, holding only what the runtime grants (Docker: --cap-add=NET_ADMIN; Kubernetes:
# capabilities drop ALL, add NET_ADMIN). A capability reaches a non-root process's
# effective set only as an ambient capability, which neither Docker's --cap-add nor
# Kubernetes sets, or from file capabilities, which no-new-privileges
# (allowPrivilegeEscalation: false) disables. Without NET_ADMIN the kernel caps the
# receive buffer at net.core.rmem_max, and on Linux before 6.6 refuses the subscription.
USER root
EXPOSE 9740
# The Node.js options are those of src/cli.ts's first line and npm start (a smaller young
# generation and a heap limit: see there).
ENTRYPOINT ["node", "--max-semi-space-size=1", "--max-old-space-size=256", "/opt/forkwatch/dist/src/cli.js"]

# `--target prebuilt`: the image with its package taken ready-made, as the whole build
# context laid out as the package stage lays it out. The image test (test/image/) builds
# it so from the checkout it has built: no npm registry is reachable from inside a build
# on the project's machines.
FROM runtime AS prebuilt
COPY . ./

# The image (the last stage, which `docker build` builds): the package built above.
FROM runtime
COPY --from=package /opt/forkwatch ./
