#!/usr/bin/env bash
# Seed S3 (003) queue-based ingestion end to end: an API key; curl submits jobs
# to the job API; `tweedle worker --jobs` runs a batch simulator that writes
# random weather data as each job's output; curl polls the job status until it
# succeeded and downloads the result through its presigned URL. One poison job
# fails on every try, goes to the dead-letter queue, and ends "failed". Then
# what the operator sees: the gateway's, the jobs' and the worker's metrics
# (AWS/ApiGateway, tweedle/Jobs, tweedle/Worker) through GetMetricData and
# GetMetricStatistics, an alarm on JobsFailed that goes to ALARM and notifies an
# SNS topic whose queue receives AWS's alarm JSON, and the built-in dashboard.
# Needs a running tweedle (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY) with the default job queue (tweedle-jobs, 3 tries, then
# tweedle-jobs-dlq), started with a short --metrics-interval (2; the default 60
# makes the metrics and the 10-second alarm wait a minute or more:
# JOBS_METRICS_WAIT bounds that wait, default 60 s).
#   ./run.sh [N]      N weather jobs (default 3); prints PASS or FAIL
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tweedle=${TWEEDLE_BIN:-$here/../../build/tweedle}
n=${1:-3}
: "${AWS_DEFAULT_REGION:=us-east-1}"
export AWS_DEFAULT_REGION
TW=${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL}
results=weather-results-$(date +%s)-$$
work=$(mktemp -d)
worker_pid=
cleanup() {
  if [ -n "$worker_pid" ]; then kill -TERM "$worker_pid" 2>/dev/null; sleep 0.3; kill -TERM "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
field() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k] if d is not None else None
print("" if d is None else d)' "$1"; }
fail() { echo "FAIL jobs: $*"; tail -15 "$work/worker.log" 2>/dev/null; exit 1; }

# The operator: one API key for clients and the worker (a real deployment
# would give them separate keys: jobs:submit + jobs:read, and jobs:update).
KEY=$("$tweedle" apikey create --name "weather-$$" --scope 'jobs:*' --endpoint "$TW" 2>/dev/null | field key)
[ -n "$KEY" ] || fail "no API key"
AUTH="Authorization: Bearer $KEY"

# The operator's alarm: any failed job within 10 seconds notifies the topic
# weather-ops, whose subscriber is a queue (an email or a pager in real life).
ops=$(python3 - "$$" <<'PY'
import boto3, json, os, sys
ep, region = os.environ["AWS_ENDPOINT_URL"], os.environ["AWS_DEFAULT_REGION"]
sns = boto3.client("sns", endpoint_url=ep, region_name=region)
sqs = boto3.client("sqs", endpoint_url=ep, region_name=region)
cw = boto3.client("cloudwatch", endpoint_url=ep, region_name=region)
topic = sns.create_topic(Name="weather-ops-%s" % sys.argv[1])["TopicArn"]
url = sqs.create_queue(QueueName="weather-ops-%s" % sys.argv[1])["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
cw.put_metric_alarm(AlarmName="weather-jobs-failing-%s" % sys.argv[1], Namespace="tweedle/Jobs",
                    MetricName="JobsFailed", Statistic="Sum", Period=10, EvaluationPeriods=1,
                    Threshold=0, ComparisonOperator="GreaterThanThreshold",
                    TreatMissingData="notBreaching", AlarmActions=[topic])
print(url)
PY
) || fail "alarm setup"
echo "operator: alarm weather-jobs-failing-$$ on tweedle/Jobs JobsFailed -> SNS -> $ops"

# The worker: the job queue, the simulator as the handler, results to a bucket.
"$tweedle" worker --queue tweedle-jobs --jobs --api-key "$KEY" --results-bucket "$results" \
  --exec "python3 $here/simulator.py" --batch-size 1 --retry-delay 1 --name weather \
  --metrics-interval 2 \
  2>"$work/worker.log" &
worker_pid=$!

# The clients: submit jobs with curl.
ids=()
for i in $(seq 1 "$n"); do
  city=$(echo Oslo Lima Perth Quito Dakar Hanoi | cut -d' ' -f$(((i - 1) % 6 + 1)))
  resp=$(curl -sf -X POST "$TW/_/api/v1/jobs" -H "$AUTH" -H 'Content-Type: application/json' \
    -d "{\"type\":\"weather-report\",\"payload\":{\"city\":\"$city\",\"days\":$((i + 2))}}")
  ids+=("$(field id <<<"$resp")")
done
poison=$(curl -sf -X POST "$TW/_/api/v1/jobs" -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"type":"weather-report","payload":{"city":"Atlantis","days":1}}' | field id)
echo "clients: submitted ${#ids[@]} jobs and a poison one"

# Poll each job until it is final (bounded), then fetch the result with plain curl.
wait_final() { # id -> prints the final status JSON
  local st
  for _ in $(seq 1 600); do
    st=$(curl -sf "$TW/_/api/v1/jobs/$1" -H "$AUTH")
    case "$(field status <<<"$st")" in succeeded | failed) echo "$st"; return 0 ;; esac
    sleep 0.1
  done
  echo "$st"
}
i=0
for id in "${ids[@]}"; do
  i=$((i + 1))
  st=$(wait_final "$id")
  [ "$(field status <<<"$st")" = succeeded ] || fail "job $id: $st"
  url=$(field result.url <<<"$st")
  curl -sf -o "$work/$id.json" "$url" || fail "job $id: presigned download"
  python3 - "$work/$id.json" "$id" "$((i + 2))" <<'PY' || fail "job $id: bad report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["job"] == sys.argv[2] and len(r["forecast"]) == int(sys.argv[3]), r
assert all(-10 <= d["temperature_c"] <= 35 for d in r["forecast"]), r
PY
done
echo "clients: ${#ids[@]} jobs succeeded; reports downloaded through presigned URLs"

# The poison job: failed, and after maxReceiveCount tries its message is in the DLQ.
st=""
for _ in $(seq 1 300); do
  st=$(curl -sf "$TW/_/api/v1/jobs/$poison" -H "$AUTH")
  dlq=$(python3 -c '
import os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_DEFAULT_REGION"])
url = sqs.get_queue_url(QueueName="tweedle-jobs-dlq")["QueueUrl"]
ids = set()
for _ in range(3):
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                 MessageAttributeNames=["All"]).get("Messages", []):
        ids.add(m["MessageAttributes"]["tweedle.job_id"]["StringValue"])
print(" ".join(sorted(ids)))')
  [ "$(field status <<<"$st")" = failed ] && [[ " $dlq " == *" $poison "* ]] && break
  sleep 0.2
done
[ "$(field status <<<"$st")" = failed ] || fail "poison job: $st"
[[ " $dlq " == *" $poison "* ]] || fail "poison job not in the dead-letter queue ($st)"
echo "poison job: $(field status <<<"$st") after $(field attempts <<<"$st") attempts, in the dead-letter queue"

# What the operator sees: the metrics, the alarm's notification, the dashboard.
python3 - "$$" "$n" "$ops" "${JOBS_METRICS_WAIT:-60}" <<'PY' || fail "metrics, alarm or dashboard"
import boto3, datetime, json, os, sys, time
ep, region = os.environ["AWS_ENDPOINT_URL"], os.environ["AWS_DEFAULT_REGION"]
tag, n, ops, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
cw = boto3.client("cloudwatch", endpoint_url=ep, region_name=region)
sqs = boto3.client("sqs", endpoint_url=ep, region_name=region)
deadline = time.time() + wait
api = [{"Name": "ApiName", "Value": "tweedle"}]
fn = [{"Name": "FunctionName", "Value": "weather"}]
wanted = {  # id: (namespace, metric, dimensions, stat, at least)
    "requests": ("AWS/ApiGateway", "Count", api, "Sum", n + 1),
    "latency": ("AWS/ApiGateway", "Latency", api, "p99", 0),
    "submitted": ("tweedle/Jobs", "JobsSubmitted", [], "Sum", n + 1),
    "succeeded": ("tweedle/Jobs", "JobsSucceeded", [], "Sum", n),
    "failed": ("tweedle/Jobs", "JobsFailed", [], "Sum", 1),
    "runtime": ("tweedle/Jobs", "JobDuration", [], "p50", 0),
    "invocations": ("tweedle/Worker", "Invocations", fn, "Sum", n + 1),
    "errors": ("tweedle/Worker", "Errors", fn, "Sum", 1),
    "duration": ("tweedle/Worker", "Duration", fn, "p99", 0),
}
while True:
    now = datetime.datetime.now(datetime.timezone.utc)
    r = cw.get_metric_data(StartTime=now - datetime.timedelta(minutes=15),
                           EndTime=now + datetime.timedelta(minutes=1), MetricDataQueries=[
        {"Id": i, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": m, "Dimensions": d},
                                 "Period": 3600, "Stat": st}}
        for i, (ns, m, d, st, _) in wanted.items()])
    got = {x["Id"]: sum(x["Values"]) if x["Values"] else None for x in r["MetricDataResults"]}
    if all(got[i] is not None and got[i] >= w[4] for i, w in wanted.items()):
        break
    if time.time() > deadline:
        sys.exit("metrics: %r (was the server started with a short --metrics-interval?)" % got)
    time.sleep(1)
print("metrics (GetMetricData, last 15 min): API requests %d (p99 %.1f ms), jobs submitted %d, "
      "succeeded %d, failed attempts %d (p50 run %.0f ms), worker invocations %d, errors %d "
      "(p99 %.0f ms)" % (got["requests"], got["latency"], got["submitted"], got["succeeded"],
                         got["failed"], got["runtime"], got["invocations"], got["errors"],
                         got["duration"]))
now = time.time()
pts = cw.get_metric_statistics(Namespace="tweedle/Jobs", MetricName="JobsFailed",
                               Dimensions=[{"Name": "JobType", "Value": "weather-report"}],
                               StartTime=now - 900, EndTime=now + 60, Period=3600,
                               Statistics=["Sum"])["Datapoints"]
assert pts and pts[0]["Sum"] >= 1, pts
print("metrics (GetMetricStatistics): JobsFailed JobType=weather-report Sum %d" % pts[0]["Sum"])
# the alarm went to ALARM and its notification (AWS's JSON, in the SNS envelope) is in the queue
alarm = "weather-jobs-failing-%s" % tag
note = None
while note is None:
    for m in sqs.receive_message(QueueUrl=ops, WaitTimeSeconds=1,
                                 MaxNumberOfMessages=10).get("Messages", []):
        msg = json.loads(json.loads(m["Body"])["Message"])
        if msg.get("AlarmName") == alarm and msg.get("NewStateValue") == "ALARM":
            note = msg
    if note is None and time.time() > deadline + 30:
        a = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        sys.exit("alarm: no ALARM notification (%s)" % (a and a[0]["StateValue"]))
t = note["Trigger"]
assert (t["Namespace"], t["MetricName"], t["Period"]) == ("tweedle/Jobs", "JobsFailed", 10), t
hist = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")
assert any("to ALARM" in i["HistorySummary"] for i in hist["AlarmHistoryItems"]), hist
print("alarm: %s went to ALARM (it is %s now), notified: %s" % (
    alarm, cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"],
    note["NewStateReason"]))
body = json.loads(cw.get_dashboard(DashboardName="tweedle")["DashboardBody"])
titles = [w["properties"].get("title") for w in body["widgets"] if w["type"] == "metric"]
for want in ("Requests per service", "Errors per service", "Latency (p99, ms)", "Jobs by status",
             "Worker Invocations", "Worker Errors", "Worker Duration"):
    assert want in titles, (want, titles)
inv = [w for w in body["widgets"] if w["properties"].get("title") == "Worker Invocations"][0]
assert ["tweedle/Worker", "Invocations", "FunctionName", "weather"] in inv["properties"]["metrics"]
print("dashboard tweedle: %d widgets (%s)" % (len(body["widgets"]), ", ".join(titles)))
PY
echo "PASS jobs: $n weather reports, one poison job failed, its alarm notified, metrics and dashboard shown"
