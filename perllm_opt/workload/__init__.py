"""The workload: requests drawn from arrival processes and service types, or read from a trace
(Azure CSV or Mooncake JSONL) (the second stage of the data flow)."""
