# Stand-in for postgres:16, built only where the official image cannot be pulled (no registry).
# Debian trixie ships PostgreSQL 17. It honours what tidewater uses of the official image:
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, PGPORT, PGDATA=/var/lib/postgresql/data (a
# volume, owned by postgres), `postgres ...` as the command, and pg_isready / psql on PATH.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-17 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data

ENV PATH=/usr/lib/postgresql/17/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY docker/standin/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
USER postgres
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
