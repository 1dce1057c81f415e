#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (version FITTINGROOM_KAFKA_VERSION, default in
# lib.sh) from Maven Central into $FITTINGROOM_CACHE/kafka-<version>/libs, once.
# Needs a JDK (17+) and Maven; FITTINGROOM_MAVEN_REPO picks Maven's local repository.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -f "$KAFKA_HOME/.complete" ]]; then
    exit 0
fi
command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars"
command -v java >/dev/null || die "a JDK (java 17+) is needed to run Kafka"

start="$(now)"
mkdir -p "$CACHE_DIR"
tmp="$(mktemp -d "$CACHE_DIR/.kafka-fetch-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME"
mvn_args=(-B -q -Dstyle.color=never -f "$INFRA_DIR/pom.xml" "-Dkafka.version=$KAFKA_VERSION")
if [[ -n "${FITTINGROOM_MAVEN_REPO:-}" ]]; then
    mvn_args+=("-Dmaven.repo.local=$FITTINGROOM_MAVEN_REPO")
fi
# Maven prints colour codes even in quiet batch mode; strip them from the log.
mvn "${mvn_args[@]}" dependency:copy-dependencies -DincludeScope=runtime \
    "-DoutputDirectory=$tmp/libs" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
ls "$tmp/libs"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
touch "$tmp/.complete"
rm -rf "$KAFKA_HOME"
mv -T "$tmp" "$KAFKA_HOME"
log "Kafka $KAFKA_VERSION jars ready ($(ls "$KAFKA_HOME/libs" | wc -l) jars, $(elapsed "$start") s)"
