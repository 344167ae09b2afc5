"""The batch simulator of seed 003: a Lambda-style SQS handler (run by
`tweedle worker --jobs`) that generates random weather data for the job's
payload and writes it to $TWEEDLE_JOB_OUTPUT, which becomes the job's result.
A job for the city "Atlantis" fails every time: it ends in the dead-letter
queue and its job is marked failed."""
import datetime
import json
import os
import random
import sys

event = json.load(sys.stdin)
for record in event["Records"]:
    job = json.loads(record["body"])  # {"id", "type", "payload"}
    city = job["payload"].get("city", "?")
    days = int(job["payload"].get("days", 3))
    if city == "Atlantis":
        sys.stderr.write("job %s: no weather stations in %s\n" % (job["id"], city))
        sys.exit(1)
    rnd = random.Random(job["id"])
    start = datetime.date.today()
    report = {"job": job["id"], "city": city, "forecast": [
        {"date": (start + datetime.timedelta(days=d)).isoformat(),
         "temperature_c": round(rnd.uniform(-10, 35), 1),
         "humidity_pct": rnd.randint(20, 100),
         "wind_kmh": round(rnd.uniform(0, 80), 1),
         "conditions": rnd.choice(["sunny", "cloudy", "rain", "snow", "fog", "storm"])}
        for d in range(days)]}
    with open(os.environ["TWEEDLE_JOB_OUTPUT"], "w") as f:
        json.dump(report, f)
