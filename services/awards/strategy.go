package awards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Operation combines the values of a strategy group's children.
type Operation string

// The operations a strategy group can use; an empty operation means sum.
const (
	OperationSum Operation = "sum"
	OperationMin Operation = "min"
	OperationMax Operation = "max"
)

// operations lists the valid operations in the order error messages name them.
var operations = []Operation{OperationSum, OperationMin, OperationMax}

// maxStrategyDepth bounds how deeply strategy groups may nest.
const maxStrategyDepth = 32

// StrategyNode is one node of a strategy tree as it is stored: it either
// references an objective (a leaf) or groups children (a group).
type StrategyNode struct {
	ObjectiveID         string         `json:"objective_id,omitempty"`
	Goal                *float64       `json:"goal,omitempty"`
	Operation           Operation      `json:"operation,omitempty"`
	NormalizationFactor *float64       `json:"normalization_factor,omitempty"`
	Strategy            []StrategyNode `json:"strategy,omitempty"`
}

// Strategy is a validated strategy tree: how an achievement's progress is
// computed from the progress of its objectives.
type Strategy struct {
	root       StrategyNode
	objectives []string // sorted, distinct
}

// NodeValue is one node's part in an evaluation, for explaining progress.
type NodeValue struct {
	Path        string    // "" for the root, then e.g. "strategy[1].strategy[0]"
	ObjectiveID string    // set for leaves
	Operation   Operation // set for groups (sum when the config left it out)
	Uncapped    float64   // factor × objective progress, or factor × op(children)
	Goal        float64   // the node's cap; 0 when it has none
	Value       float64   // Uncapped limited to Goal
}

// ParseStrategy decodes and validates a strategy tree. The JSON is strict:
// unknown or duplicate keys are rejected and key names are case-sensitive.
// Every objective the tree references must be among objectives. Validation
// errors name the path of the offending node.
func ParseStrategy(data []byte, objectives []string) (*Strategy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	root, err := decodeStrategyNode(dec, "", 0)
	if err != nil {
		return nil, fmt.Errorf("decode strategy: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode strategy: unexpected data after the strategy")
	}
	known := make(map[string]bool, len(objectives))
	for _, o := range objectives {
		known[o] = true
	}
	var errs []error
	if root.Goal == nil {
		errs = append(errs, errors.New("root: goal is required (it is the achievement's goal)"))
	}
	used := map[string]bool{}
	validateStrategyNode(&root, "", known, used, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Strategy{root: root}
	for o := range used {
		s.objectives = append(s.objectives, o)
	}
	slices.Sort(s.objectives)
	return s, nil
}

// Goal returns the achievement's goal: the root's cap.
func (s *Strategy) Goal() float64 { return *s.root.Goal }

// Objectives returns the distinct objectives the tree references, sorted.
func (s *Strategy) Objectives() []string { return slices.Clone(s.objectives) }

// MarshalJSON encodes the tree as ParseStrategy reads it.
func (s *Strategy) MarshalJSON() ([]byte, error) { return json.Marshal(s.root) }

// Evaluate computes the achievement's progress from each objective's progress
// (missing objectives count zero; negative or NaN progress counts zero). It
// returns the root's value, which lies in [0, Goal()], and every node's value
// in depth-first order, root first.
func (s *Strategy) Evaluate(progress map[string]float64) (float64, []NodeValue) {
	var nodes []NodeValue
	v := evaluateStrategyNode(&s.root, "", progress, &nodes)
	return v, nodes
}

func evaluateStrategyNode(n *StrategyNode, path string, progress map[string]float64, out *[]NodeValue) float64 {
	i := len(*out)
	*out = append(*out, NodeValue{Path: path, ObjectiveID: n.ObjectiveID})
	var raw float64
	if n.ObjectiveID != "" {
		raw = progress[n.ObjectiveID]
		if !(raw > 0) { // negative or NaN
			raw = 0
		}
	} else {
		op := n.Operation
		if op == "" {
			op = OperationSum
		}
		(*out)[i].Operation = op
		for j := range n.Strategy {
			v := evaluateStrategyNode(&n.Strategy[j], childPath(path, j), progress, out)
			switch {
			case j == 0:
				raw = v
			case op == OperationMin:
				raw = min(raw, v)
			case op == OperationMax:
				raw = max(raw, v)
			default:
				raw += v
			}
		}
	}
	if n.NormalizationFactor != nil {
		raw *= *n.NormalizationFactor
	}
	value := raw
	if n.Goal != nil {
		(*out)[i].Goal = *n.Goal
		value = min(value, *n.Goal)
	}
	(*out)[i].Uncapped = raw
	(*out)[i].Value = value
	return value
}

func validateStrategyNode(n *StrategyNode, path string, known, used map[string]bool, errs *[]error) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", displayPath(path), fmt.Sprintf(format, args...)))
	}
	if n.Goal != nil && !(*n.Goal > 0) {
		fail("goal must be greater than 0, got %v", *n.Goal)
	}
	if n.NormalizationFactor != nil && !(*n.NormalizationFactor > 0) {
		fail("normalization_factor must be greater than 0, got %v", *n.NormalizationFactor)
	}
	leaf, group := n.ObjectiveID != "", n.Strategy != nil
	switch {
	case leaf && group:
		fail("a node either references an objective (objective_id) or groups children (strategy), not both")
	case !leaf && !group:
		fail("a node must reference an objective (objective_id) or group children (strategy)")
	case leaf:
		if n.Operation != "" {
			fail("operation %q applies only to groups (strategy), not to objective %q", n.Operation, n.ObjectiveID)
		}
		if !known[n.ObjectiveID] {
			fail("objective %q does not exist", n.ObjectiveID)
		} else {
			used[n.ObjectiveID] = true
		}
	}
	if !leaf && n.Operation != "" && !slices.Contains(operations, n.Operation) {
		fail("unknown operation %q (valid: %s)", n.Operation, joinOperations())
	}
	if group && len(n.Strategy) == 0 {
		fail("strategy must list at least one node")
	}
	for i := range n.Strategy {
		validateStrategyNode(&n.Strategy[i], childPath(path, i), known, used, errs)
	}
}

// decodeStrategyNode reads one node token by token, so that it can reject
// duplicate keys and keys that differ from the known ones only in case.
func decodeStrategyNode(dec *json.Decoder, path string, depth int) (StrategyNode, error) {
	var n StrategyNode
	if depth > maxStrategyDepth {
		return n, fmt.Errorf("%s: strategy nests deeper than %d levels", displayPath(path), maxStrategyDepth)
	}
	if err := expectDelim(dec, '{', path, "an object"); err != nil {
		return n, err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n, err
		}
		key, _ := tok.(string)
		if seen[key] {
			return n, fmt.Errorf("%s: duplicate field %q", displayPath(path), key)
		}
		seen[key] = true
		switch key {
		case "objective_id":
			err = decodeStrategyField(dec, path, key, &n.ObjectiveID)
		case "goal":
			n.Goal = new(float64)
			err = decodeStrategyField(dec, path, key, n.Goal)
		case "operation":
			err = decodeStrategyField(dec, path, key, &n.Operation)
		case "normalization_factor":
			n.NormalizationFactor = new(float64)
			err = decodeStrategyField(dec, path, key, n.NormalizationFactor)
		case "strategy":
			if err := expectDelim(dec, '[', path, `"strategy" to be an array`); err != nil {
				return n, err
			}
			n.Strategy = []StrategyNode{}
			for dec.More() {
				child, err := decodeStrategyNode(dec, childPath(path, len(n.Strategy)), depth+1)
				if err != nil {
					return n, err
				}
				n.Strategy = append(n.Strategy, child)
			}
			err = expectDelim(dec, ']', path, "the end of the array")
		default:
			return n, fmt.Errorf("%s: unknown field %q (valid: objective_id, goal, operation, normalization_factor, strategy)", displayPath(path), key)
		}
		if err != nil {
			return n, err
		}
	}
	return n, expectDelim(dec, '}', path, "the end of the object")
}

func decodeStrategyField(dec *json.Decoder, path, key string, v any) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if string(raw) == "null" {
		return fmt.Errorf("%s: %s must not be null", displayPath(path), key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %s: %w", displayPath(path), key, err)
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim, path, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", displayPath(path), err)
	}
	if tok != want {
		return fmt.Errorf("%s: expected %s, got %v", displayPath(path), what, tok)
	}
	return nil
}

func childPath(parent string, i int) string {
	if parent == "" {
		return fmt.Sprintf("strategy[%d]", i)
	}
	return fmt.Sprintf("%s.strategy[%d]", parent, i)
}

func displayPath(path string) string {
	if path == "" {
		return "root"
	}
	return path
}

func joinOperations() string {
	names := make([]string, len(operations))
	for i, op := range operations {
		names[i] = string(op)
	}
	return strings.Join(names, ", ")
}
