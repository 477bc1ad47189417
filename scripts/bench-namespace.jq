# The jq equivalent of `kv-filter --namespace $ns --exclude-resource events` (scripts/bench.py).
select(.type or ((.key // "") as $k | ($k | split("/")) as $s |
  ((if ($s[2] == "services" and ($s[3] == "specs" or $s[3] == "endpoints")) then $s[4]
    elif ($s[2] | contains(".")) then (if ($s | length) >= 6 then $s[4] else null end)
    elif $s[2] == "namespaces" then $s[3]
    else (if ($s | length) >= 5 then $s[3] else null end) end) == $ns)
  and ($s[2] != "events")))
