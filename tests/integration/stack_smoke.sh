#!/usr/bin/env bash
# tests/integration/stack_smoke.sh — the local stack works: Redis answers,
# Kafka (real or mock) takes a topic, a message goes through it and back, a
# consumer group commits; with the mock, an injected fault reaches a client.
# Runs under tests/run.sh, which starts the stack and exports its env.
# shellcheck disable=SC2317 # the checks are called through check()
set -u
cd "$(dirname "$0")/../.." || exit 1
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
failed=0
why=

# check NAME FUNC: runs FUNC; on failure FUNC has put the reason in $why.
check() {
        why="$2 failed"
        if "$2"; then
                echo "ok $1"
        else
                echo "FAIL $1: $why"
                failed=1
        fi
}

for v in BITMON_TEST_REDIS BITMON_TEST_KAFKA BITMON_TEST_KAFKA_KIND BITMON_TEST_STACK_DIR; do
        if [ -z "${!v:-}" ]; then
                echo "FAIL stack_env: $v is not set (run through tests/run.sh)"
                exit 1
        fi
done
redis_host=${BITMON_TEST_REDIS%:*}
redis_port=${BITMON_TEST_REDIS##*:}
kafka=$BITMON_TEST_KAFKA
kind=$BITMON_TEST_KAFKA_KIND
run=$$-$RANDOM
topic=smoke-$run
tmp=$(mktemp -d -t bitmon-smoke.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

rcli() { timeout $((5 * scale)) redis-cli -h "$redis_host" -p "$redis_port" "$@"; }
last() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n' ' '; }

redis_ping() {
        local r
        r=$(rcli PING 2>&1)
        why="PING on $BITMON_TEST_REDIS answered '$r'"
        [ "$r" = PONG ]
}

redis_set_get() {
        local r
        rcli SET "smoke:$run" v1 EX 60 >/dev/null 2>&1
        r=$(rcli GET "smoke:$run" 2>&1)
        why="GET after SET on $BITMON_TEST_REDIS answered '$r', not 'v1'"
        [ "$r" = v1 ]
}

kafka_metadata() {
        timeout $((10 * scale)) kcat -L -b "$kafka" -m $((5 * scale)) >"$tmp/meta" 2>&1
        why="kcat -L on $kafka ($kind) did not list brokers: $(last "$tmp/meta")"
        grep -q ' brokers:' "$tmp/meta"
}

topic_create() {
        why="cannot create $topic"
        scripts/kafka.sh topic "$topic" 2 2>"$tmp/topic.err" && return 0
        why="cannot create $topic: $(last "$tmp/topic.err")"
        return 1
}

# The broker has the topic once its metadata lists both partitions.
topic_visible() {
        local i
        why="$topic with 2 partitions is not in the metadata of $kafka"
        for ((i = 0; i < 50 * scale; i++)); do
                kcat -L -b "$kafka" -t "$topic" -m 2 2>/dev/null | grep -q "with 2 partitions" && return 0
                sleep 0.1
        done
        return 1
}

produce_consume() {
        printf 'k-%s:hello %s\n' "$run" "$run" |
                timeout $((20 * scale)) kcat -P -b "$kafka" -t "$topic" -p 1 -K: \
                        -X message.timeout.ms=$((10000 * scale)) 2>"$tmp/produce.err"
        timeout $((20 * scale)) kcat -C -b "$kafka" -t "$topic" -p 1 -o beginning -c 1 -e -q \
                -f '%k=%s\n' >"$tmp/consumed" 2>"$tmp/consume.err"
        why="read '$(cat "$tmp/consumed")' back from $topic, not 'k-$run=hello $run' ($(last "$tmp/produce.err") $(last "$tmp/consume.err"))"
        [ "$(cat "$tmp/consumed")" = "k-$run=hello $run" ]
}

# A consumer group joins, reads the message and commits: the group
# coordinator (offsets topic with replication factor 1) works.
group_consume() {
        timeout $((30 * scale)) kcat -b "$kafka" -G "smoke-$run" -X auto.offset.reset=earliest \
                -c 1 -e -q -f '%s\n' "$topic" >"$tmp/group" 2>"$tmp/group.err"
        why="group consumer read '$(cat "$tmp/group")', not 'hello $run' ($(last "$tmp/group.err"))"
        [ "$(cat "$tmp/group")" = "hello $run" ]
}

# Topics come from `bitmon topics` or the tests, never by accident.
no_auto_create() {
        why="producing to the missing topic nosuch-$run succeeded (auto.create.topics.enable?)"
        ! echo x | timeout $((20 * scale)) kcat -P -b "$kafka" -t "nosuch-$run" \
                -X message.timeout.ms=$((3000 * scale)) 2>/dev/null
}

# Fault injection: a pushed request error reaches the producer ...
fault_seen() {
        why="cannot inject a Produce error"
        scripts/kafka.sh ctl error Produce MSG_SIZE_TOO_LARGE 2>"$tmp/ctl.err" || return 1
        why="producing with MSG_SIZE_TOO_LARGE injected succeeded"
        ! echo x | timeout $((20 * scale)) kcat -P -b "$kafka" -t "$topic" \
                -X message.timeout.ms=$((5000 * scale)) 2>"$tmp/fault.err" || return 1
        why="the producer failed, but not with the injected error: $(last "$tmp/fault.err")"
        grep -q 'Message size too large' "$tmp/fault.err"
}

# ... it is used up by the one request, so the next message goes through ...
fault_used_up() {
        echo y | timeout $((20 * scale)) kcat -P -b "$kafka" -t "$topic" \
                -X message.timeout.ms=$((10000 * scale)) 2>"$tmp/clear.err"
        local rc=$?
        why="producing after the injected error failed: $(last "$tmp/clear.err")"
        return $rc
}

# ... and a broker taken down refuses clients until it is brought back up.
broker_down_up() {
        why="cannot take broker 1 down"
        scripts/kafka.sh ctl down 1 || return 1
        why="broker 1 answered metadata while down"
        if timeout $((10 * scale)) kcat -L -b "$kafka" -m 1 >/dev/null 2>&1; then
                scripts/kafka.sh ctl up 1
                return 1
        fi
        why="cannot bring broker 1 back up"
        scripts/kafka.sh ctl up 1 || return 1
        why="broker 1 did not answer metadata after coming back up"
        timeout $((10 * scale)) kcat -L -b "$kafka" -m $((5 * scale)) 2>/dev/null | grep -q ' brokers:'
}

ctl_rejects() {
        why="'ctl down 99' on a mock without broker 99 was accepted"
        ! scripts/kafka.sh ctl down 99 2>/dev/null
}

check redis_ping redis_ping
check redis_set_get redis_set_get
check kafka_metadata kafka_metadata
check kafka_topic_create topic_create
check kafka_topic_metadata topic_visible
check kafka_produce_consume produce_consume
check kafka_consumer_group group_consume
if [ "$kind" = kafka ]; then
        check kafka_no_auto_create no_auto_create
else
        check mock_fault_produce_error fault_seen
        check mock_fault_used_up fault_used_up
        check mock_broker_down_up broker_down_up
        check mock_ctl_rejects_bad_broker ctl_rejects
fi
exit $failed
