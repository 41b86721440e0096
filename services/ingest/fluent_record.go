package ingest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// recordParams converts a Fluent record to the params of a map-form event:
// keys as they are, values as the map form spells them. It takes the
// record's idempotency key out, and rejects a record that is no map or
// holds a value the map form cannot carry.
func recordParams(record any) (params map[string]string, key string, rejection *ingestv1.Rejection) {
	switch r := record.(type) {
	case map[string]any:
		params = make(map[string]string, len(r))
		for k, v := range r {
			if k == FluentIdempotencyKeyField {
				s, ok := v.(string)
				if !ok {
					return nil, "", reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, idempotencyKeyPath,
						"the record's %s is %s: send a string, e.g. a UUID", FluentIdempotencyKeyField, fluentType(v))
				}
				key = s
				continue
			}
			if v == nil {
				// nil is the field's absence.
				continue
			}
			s, problem := paramText(v)
			if problem != "" {
				return nil, "", reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, k, "record field %s: %s", quote(k), problem)
			}
			params[k] = s
		}
		return params, key, nil
	case unsupported:
		return nil, "", reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "record", "the record: %s", r.problem)
	}
	return nil, "", reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "record",
		"the record is %s: send a map of field paths to values, e.g. {\"item_id\": 42}", fluentType(record))
}

// paramText is a record value as the map form spells it, or the problem.
func paramText(v any) (string, string) {
	switch x := v.(type) {
	case string:
		return x, ""
	case []byte:
		return base64.StdEncoding.EncodeToString(x), ""
	case bool:
		return strconv.FormatBool(x), ""
	case int64:
		return strconv.FormatInt(x, 10), ""
	case uint64:
		return strconv.FormatUint(x, 10), ""
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN", ""
		case math.IsInf(x, 1):
			return "Infinity", ""
		case math.IsInf(x, -1):
			return "-Infinity", ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64), ""
	case time.Time:
		return x.Format(time.RFC3339Nano), ""
	case unsupported:
		return "", x.problem
	case map[string]any, []any:
		j, problem := jsonValue(x)
		if problem != "" {
			return "", problem
		}
		b, err := json.Marshal(j)
		if err != nil {
			return "", fmt.Sprintf("cannot be written as JSON: %v", err)
		}
		return string(b), ""
	}
	return "", fmt.Sprintf("is %s, which the map form does not take", fluentType(v))
}

// jsonValue prepares a nested value for JSON as the map form reads it:
// bytes as base64, times as RFC 3339; it finds what JSON cannot carry.
func jsonValue(v any) (any, string) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			j, problem := jsonValue(e)
			if problem != "" {
				return nil, problem
			}
			out[k] = j
		}
		return out, ""
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			j, problem := jsonValue(e)
			if problem != "" {
				return nil, problem
			}
			out[i] = j
		}
		return out, ""
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, "holds NaN or an infinity inside an array or map, which JSON cannot carry"
		}
		return x, ""
	case time.Time:
		return x.Format(time.RFC3339Nano), ""
	case unsupported:
		return nil, x.problem
	}
	return v, ""
}

// fluentType names a decoded value's msgpack type for a rejection.
func fluentType(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "a string"
	case []byte:
		return "binary"
	case bool:
		return "a boolean"
	case int64, uint64:
		return "an integer"
	case float64:
		return "a float"
	case time.Time:
		return "an EventTime"
	case []any:
		return "an array"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}
