"""Counts the final results of the scan requests a fault run made.

usage: count_results.py IDS_FILE RESULTS_JSONL

IDS_FILE has "REQUEST_ID IMAGE" lines; RESULTS_JSONL is `imgassure results
--json`. Prints "requests R, results F, lost L, duplicates D, unexpected
U": F requests have a final SCANNED result, D results repeat a request
that already has one, U results have a status other than SCANNED. Exits 0
when every request has a final result and none is unexpected.
"""

import collections
import json
import sys


def main():
    ids = [line.split()[0] for line in open(sys.argv[1]) if line.strip()]
    wanted = set(ids)
    per_request = collections.Counter()
    unexpected = []
    for line in open(sys.argv[2]):
        result = json.loads(line)
        if result["request_id"] not in wanted:
            continue
        if result["status"] == "SCANNED":
            per_request[result["request_id"]] += 1
        else:
            unexpected.append((result["request_id"], result["status"],
                               result.get("status_detail")))
    finished = sum(1 for request in wanted if per_request[request] > 0)
    duplicates = sum(count - 1 for count in per_request.values())
    print("requests %d, results %d, lost %d, duplicates %d, unexpected %d"
          % (len(wanted), finished, len(wanted) - finished, duplicates,
             len(unexpected)))
    for request, status, detail in unexpected[:5]:
        print("unexpected %s for request %s: %s" % (status, request, detail),
              file=sys.stderr)
    sys.exit(0 if finished == len(wanted) and not unexpected else 1)


if __name__ == "__main__":
    main()
