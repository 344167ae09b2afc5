#!/usr/bin/env bash
# aws-cli against a real tweedle: the commands a user types, checked by their output.
# Last line: SUMMARY passed=N failed=N skipped=N
set -u
cd "$(dirname "$0")/../.."
BIN=${TWEEDLE_BIN:-$PWD/build/tweedle}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TWEEDLE_ACCESS_KEY_ID=AKIDCLITEST TWEEDLE_SECRET_ACCESS_KEY=cli/secret+key
export AWS_ACCESS_KEY_ID=$TWEEDLE_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$TWEEDLE_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1 AWS_PAGER=""
unset AWS_PROFILE AWS_ENDPOINT_URL
"$BIN" serve --listen "127.0.0.1:$port" --data "$data" >"$data/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/_/health" >/dev/null && break
  sleep 0.1
done
ep="http://127.0.0.1:$port"
aws_() { aws --endpoint-url "$ep" "$@"; }
pass=0 fail=0
check() { # name, condition result (0 ok)
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1"; fi
}

url=$(aws_ sqs create-queue --queue-name cli-q --attributes VisibilityTimeout=5 --query QueueUrl --output text)
[ "$url" = "$ep/000000000000/cli-q" ]; check "create-queue returns the queue URL ($url)" $?
got=$(aws_ sqs get-queue-url --queue-name cli-q --query QueueUrl --output text)
[ "$got" = "$url" ]; check "get-queue-url" $?
vis=$(aws_ sqs get-queue-attributes --queue-url "$url" --attribute-names VisibilityTimeout --query Attributes.VisibilityTimeout --output text)
[ "$vis" = "5" ]; check "get-queue-attributes VisibilityTimeout=5" $?
md5=$(aws_ sqs send-message --queue-url "$url" --message-body "hello from the cli" --query MD5OfMessageBody --output text)
[ "$md5" = "$(printf 'hello from the cli' | md5sum | cut -d' ' -f1)" ]; check "send-message MD5OfMessageBody" $?
aws_ sqs send-message-batch --queue-url "$url" --entries \
  '[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two","DelaySeconds":0}]' \
  --query 'length(Successful)' --output text | grep -qx 2
check "send-message-batch: 2 successful" $?
out=$(aws_ sqs receive-message --queue-url "$url" --max-number-of-messages 10 --wait-time-seconds 2 \
  --attribute-names All --output json)
n=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Messages"]))' <<<"$out")
[ "$n" = "3" ]; check "receive-message returns the 3 messages ($n)" $?
for rh in $(python3 -c 'import json,sys; [print(m["ReceiptHandle"]) for m in json.load(sys.stdin)["Messages"]]' <<<"$out"); do
  aws_ sqs delete-message --queue-url "$url" --receipt-handle "$rh" || fail=$((fail + 1))
done
left=$(aws_ sqs get-queue-attributes --queue-url "$url" --attribute-names All \
  --query '[Attributes.ApproximateNumberOfMessages,Attributes.ApproximateNumberOfMessagesNotVisible]' --output text)
[ "$(echo $left)" = "0 0" ]; check "delete-message leaves the queue empty ($left)" $?
err=$(aws_ sqs get-queue-url --queue-name no-such-queue 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "NonExistentQueue\|QueueDoesNotExist" <<<"$err"; check "get-queue-url of a missing queue fails with QueueDoesNotExist" $?
err=$(aws_ sqs receive-message --queue-url "$url" --wait-time-seconds 21 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "InvalidParameterValue" <<<"$err"; check "wait-time-seconds 21 is rejected" $?
aws_ sqs list-queues --queue-name-prefix cli --query 'QueueUrls[0]' --output text | grep -qx "$url"
check "list-queues with prefix" $?
aws_ sqs tag-queue --queue-url "$url" --tags team=core
aws_ sqs list-queue-tags --queue-url "$url" --query Tags.team --output text | grep -qx core
check "tag-queue / list-queue-tags" $?
aws_ sqs purge-queue --queue-url "$url"; check "purge-queue" $?
aws_ sqs delete-queue --queue-url "$url"; check "delete-queue" $?
err=$(aws_ sqs get-queue-url --queue-name cli-q 2>&1); rc=$?
[ $rc -ne 0 ]; check "deleted queue is gone" $?
AWS_SECRET_ACCESS_KEY=wrong aws_ sqs list-queues >/dev/null 2>"$data/err"; rc=$?
[ $rc -ne 0 ] && grep -q SignatureDoesNotMatch "$data/err"; check "wrong secret: SignatureDoesNotMatch" $?
AWS_ACCESS_KEY_ID=AKIDUNKNOWN aws_ sqs list-queues >/dev/null 2>"$data/err"; rc=$?
[ $rc -ne 0 ] && grep -q InvalidClientTokenId "$data/err"; check "unknown key: InvalidClientTokenId" $?

# --- EventBridge (aws events) ---
eq=$(aws_ sqs create-queue --queue-name cli-events-q --query QueueUrl --output text)
aws_ events create-event-bus --name cli-bus --query EventBusArn --output text |
  grep -qx "arn:aws:events:us-east-1:000000000000:event-bus/cli-bus"
check "events create-event-bus returns the bus ARN" $?
aws_ events put-rule --name cli-rule --event-bus-name cli-bus --event-pattern '{"source":["cli.test"]}' \
  --query RuleArn --output text | grep -qx "arn:aws:events:us-east-1:000000000000:rule/cli-bus/cli-rule"
check "events put-rule returns the rule ARN" $?
aws_ events put-targets --rule cli-rule --event-bus-name cli-bus \
  --targets "Id=q,Arn=arn:aws:sqs:us-east-1:000000000000:cli-events-q,InputPath=\$.detail" \
  --query FailedEntryCount --output text | grep -qx 0
check "events put-targets" $?
aws_ events put-events --entries \
  '[{"EventBusName":"cli-bus","Source":"cli.test","DetailType":"t","Detail":"{\"from\":\"cli\"}"}]' \
  --query FailedEntryCount --output text | grep -qx 0
check "events put-events" $?
body=$(aws_ sqs receive-message --queue-url "$eq" --wait-time-seconds 5 --query 'Messages[0].Body' --output text)
[ "$body" = '{"from":"cli"}' ]; check "the event's detail reaches the queue ($body)" $?
err=$(aws_ events delete-rule --name cli-rule --event-bus-name cli-bus 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "Rule can't be deleted since it has targets" <<<"$err"
check "events delete-rule with targets is refused" $?
aws_ events remove-targets --rule cli-rule --event-bus-name cli-bus --ids q >/dev/null &&
  aws_ events delete-rule --name cli-rule --event-bus-name cli-bus &&
  aws_ events delete-event-bus --name cli-bus
check "events remove-targets, delete-rule, delete-event-bus" $?
err=$(aws_ events describe-event-bus --name cli-bus 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q ResourceNotFoundException <<<"$err"; check "deleted bus: ResourceNotFoundException" $?

# --- SNS (aws sns) ---
topic=$(aws_ sns create-topic --name cli-topic --query TopicArn --output text)
[ "$topic" = "arn:aws:sns:us-east-1:000000000000:cli-topic" ]; check "sns create-topic returns the topic ARN" $?
sq=$(aws_ sqs create-queue --queue-name cli-sns-q --query QueueUrl --output text)
sub=$(aws_ sns subscribe --topic-arn "$topic" --protocol sqs \
  --notification-endpoint arn:aws:sqs:us-east-1:000000000000:cli-sns-q --query SubscriptionArn --output text)
[[ "$sub" == "$topic:"* ]]; check "sns subscribe (sqs) is confirmed at once" $?
aws_ sns set-subscription-attributes --subscription-arn "$sub" --attribute-name RawMessageDelivery \
  --attribute-value true
check "sns set-subscription-attributes RawMessageDelivery" $?
mid=$(aws_ sns publish --topic-arn "$topic" --message "from the cli" --query MessageId --output text)
[ -n "$mid" ]; check "sns publish returns a MessageId" $?
body=$(aws_ sqs receive-message --queue-url "$sq" --wait-time-seconds 2 --query 'Messages[0].Body' --output text)
[ "$body" = "from the cli" ]; check "the queue subscriber got the raw message" $?
aws_ sns list-subscriptions-by-topic --topic-arn "$topic" --query 'length(Subscriptions)' --output text | grep -qx 1
check "sns list-subscriptions-by-topic" $?
err=$(aws_ sns publish --topic-arn "$topic:nope" --message x 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q NotFound <<<"$err"; check "sns publish to a missing topic: NotFound" $?
aws_ sns delete-topic --topic-arn "$topic" &&
  aws_ sns list-topics --query 'length(Topics)' --output text | grep -qx 0
check "sns delete-topic" $?

# --- CloudWatch alarms (aws cloudwatch) ---
aq=$(aws_ sqs create-queue --queue-name cli-alarm-q --query QueueUrl --output text)
atopic=$(aws_ sns create-topic --name cli-alarm-topic --query TopicArn --output text)
aws_ sns subscribe --topic-arn "$atopic" --protocol sqs --attributes RawMessageDelivery=true \
  --notification-endpoint arn:aws:sqs:us-east-1:000000000000:cli-alarm-q >/dev/null
aws_ cloudwatch put-metric-alarm --alarm-name cli-cpu --namespace Cli --metric-name cpu \
  --statistic Average --period 60 --evaluation-periods 1 --threshold 80 \
  --comparison-operator GreaterThanThreshold --treat-missing-data ignore --alarm-actions "$atopic"
check "cloudwatch put-metric-alarm" $?
st=$(aws_ cloudwatch describe-alarms --alarm-names cli-cpu --query 'MetricAlarms[0].StateValue' --output text)
[ "$st" = INSUFFICIENT_DATA ]; check "cloudwatch describe-alarms: a new alarm is INSUFFICIENT_DATA ($st)" $?
aws_ cloudwatch set-alarm-state --alarm-name cli-cpu --state-value ALARM --state-reason "from the cli"
check "cloudwatch set-alarm-state" $?
msg=$(aws_ sqs receive-message --queue-url "$aq" --wait-time-seconds 5 --query 'Messages[0].Body' --output text)
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); sys.exit(not (m["AlarmName"] == "cli-cpu" and m["NewStateValue"] == "ALARM" and m["NewStateReason"] == "from the cli"))' "$msg"
check "the ALARM action notified the topic's queue" $?
aws_ cloudwatch put-composite-alarm --alarm-name cli-any --alarm-rule 'ALARM("cli-cpu") OR FALSE' \
  --alarm-actions "$atopic"
check "cloudwatch put-composite-alarm" $?
st=$(aws_ cloudwatch describe-alarms --alarm-names cli-any --alarm-types CompositeAlarm \
  --query 'CompositeAlarms[0].StateValue' --output text)
[ "$st" = ALARM ]; check "the composite alarm follows its child to ALARM ($st)" $?
msg=$(aws_ sqs receive-message --queue-url "$aq" --wait-time-seconds 5 --query 'Messages[0].Body' --output text)
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); sys.exit(not (m["AlarmName"] == "cli-any" and m["AlarmRule"] == "ALARM(\"cli-cpu\") OR FALSE"))' "$msg"
check "the composite alarm's notification carries its AlarmRule" $?
kid=$(aws_ cloudwatch describe-alarms --children-of-alarm-name cli-any --query 'MetricAlarms[0].AlarmName' --output text)
[ "$kid" = cli-cpu ]; check "cloudwatch describe-alarms --children-of-alarm-name ($kid)" $?
err=$(aws_ cloudwatch put-composite-alarm --alarm-name cli-bad --alarm-rule 'ALARM(cli-cpu) AND' 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q ValidationError <<<"$err"; check "put-composite-alarm with a broken rule: ValidationError" $?
aws_ cloudwatch describe-alarm-history --alarm-name cli-cpu --history-item-type StateUpdate \
  --query 'AlarmHistoryItems[0].HistorySummary' --output text | grep -qx "Alarm updated from INSUFFICIENT_DATA to ALARM"
check "cloudwatch describe-alarm-history (metric alarm)" $?
h=$(aws_ cloudwatch describe-alarm-history --alarm-name cli-any --alarm-types CompositeAlarm \
  --query 'AlarmHistoryItems[].HistorySummary' --output text)
grep -q "Alarm updated from INSUFFICIENT_DATA to ALARM" <<<"$h" && grep -q "Successfully executed action" <<<"$h"
check "cloudwatch describe-alarm-history --alarm-types CompositeAlarm" $?
err=$(aws_ cloudwatch delete-alarms --alarm-names cli-cpu 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "composite alarm(s) depending on it" <<<"$err"
check "delete-alarms of a composite alarm's child is refused" $?
aws_ cloudwatch delete-alarms --alarm-names cli-any && aws_ cloudwatch delete-alarms --alarm-names cli-cpu
check "cloudwatch delete-alarms" $?
n=$(aws_ cloudwatch describe-alarms --alarm-types MetricAlarm CompositeAlarm \
  --query '[length(MetricAlarms), length(CompositeAlarms)]' --output text)
[ "$(echo $n)" = "0 0" ]; check "no alarms left ($n)" $?

echo "SUMMARY passed=$pass failed=$fail skipped=0"
[ "$fail" -eq 0 ]
