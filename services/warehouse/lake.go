package warehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"
)

// LakeConfig configures the Parquet lake.
type LakeConfig struct {
	// Dir is the lake's root: files go to
	// <Dir>/event=<table>/date=<yyyy-mm-dd>/seq-<first>-<last>.parquet.
	Dir string
	// FileSequences is how many stream sequences one file covers
	// (first..last in its name): it bounds a file's rows, and decides
	// which file an event goes to, so a redelivered event lands in the file
	// that holds it already. 0 is 100000.
	FileSequences uint64
	// FlushEvents is how many buffered events make the lake write its
	// files; 0 is 10000.
	FlushEvents int
	// FlushAge is the longest an event waits in the buffer before its
	// file is written; 0 is 30s.
	FlushAge time.Duration
	Logger   *slog.Logger
}

// Lake writes the rows of the typed tables as Parquet files, partitioned
// by event and UTC day of received_at. A file covers a fixed range of
// stream sequences; writing it merges the buffered rows with the rows the
// file already holds (skipping sequences it has), writes a temporary file,
// fsyncs it, renames it over the old one and fsyncs the directory; only
// then are the events acknowledged. A crash at any point leaves either the
// old or the new complete file, and the redelivered events are merged into
// it once.
//
// One loader writes a lake directory: two writing the same one could lose
// each other's rows in a concurrent rewrite.
type Lake struct {
	cfg LakeConfig
	log *slog.Logger

	mu      sync.Mutex
	pending map[lakeFile]*lakeBuffer
	msgs    []jetstream.Msg
	count   int
	oldest  time.Time
	// written counts the rows written to files (tests and benchmarks).
	written int64
}

// lakeFile names one file of the lake.
type lakeFile struct {
	table string
	day   time.Time
	block uint64
}

// lakeBuffer holds the rows waiting for one file.
type lakeBuffer struct {
	table *Table // the widest layout among the rows
	rows  []Row
}

// OpenLake returns the lake in cfg.Dir, created when missing, with the
// temporary files of an interrupted write removed.
func OpenLake(cfg LakeConfig) (*Lake, error) {
	if cfg.Dir == "" {
		return nil, errors.New("the lake needs a directory (--lake-dir)")
	}
	if cfg.FileSequences == 0 {
		cfg.FileSequences = 100_000
	}
	if cfg.FlushEvents <= 0 {
		cfg.FlushEvents = 10_000
	}
	if cfg.FlushAge <= 0 {
		cfg.FlushAge = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lake directory: %w", err)
	}
	err := filepath.WalkDir(cfg.Dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".tmp") {
			return os.Remove(path)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lake directory: remove temporary files: %w", err)
	}
	return &Lake{cfg: cfg, log: cfg.Logger, pending: map[lakeFile]*lakeBuffer{}}, nil
}

// Written is how many rows the lake wrote to files since it opened
// (merged duplicates not counted).
func (l *Lake) Written() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written
}

// Add buffers rows (committed to the tables already) and the messages that
// carried them; the messages are acknowledged once their files are written.
func (l *Lake) Add(rows []Row, msgs []jetstream.Msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 {
		l.oldest = time.Now()
	}
	for _, r := range rows {
		key := lakeFile{table: r.Table.Name, day: r.Day(), block: (r.Sequence - 1) / l.cfg.FileSequences}
		b := l.pending[key]
		if b == nil {
			b = &lakeBuffer{table: r.Table}
			l.pending[key] = b
		}
		if len(r.Table.Columns) > len(b.table.Columns) {
			b.table = r.Table
		}
		b.rows = append(b.rows, r)
	}
	l.msgs = append(l.msgs, msgs...)
	l.count += len(rows)
}

// untilDue is how long until the buffer must be written by age.
func (l *Lake) untilDue() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 {
		return l.cfg.FlushAge
	}
	return max(0, l.cfg.FlushAge-time.Since(l.oldest))
}

// FlushDue writes the buffered files when the buffer is full or old enough,
// or always with force, then acknowledges their messages. On error nothing
// is acknowledged: the messages are negatively acknowledged and come back.
func (l *Lake) FlushDue(force bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 || (!force && l.count < l.cfg.FlushEvents && time.Since(l.oldest) < l.cfg.FlushAge) {
		return nil
	}
	keys := make([]lakeFile, 0, len(l.pending))
	for k := range l.pending {
		keys = append(keys, k)
	}
	var err error
	for _, k := range keys {
		n, werr := l.writeFile(k, l.pending[k])
		if werr != nil {
			err = werr
			break
		}
		l.written += int64(n)
	}
	msgs := l.msgs
	l.pending, l.msgs, l.count = map[lakeFile]*lakeBuffer{}, nil, 0
	for _, m := range msgs {
		if err != nil {
			_ = m.Nak()
		} else {
			// A lost ack means a redelivery, which the merge absorbs.
			_ = m.Ack()
		}
	}
	return err
}

// path is where a file of the lake lives.
func (l *Lake) path(k lakeFile) string {
	first := k.block*l.cfg.FileSequences + 1
	last := (k.block + 1) * l.cfg.FileSequences
	return filepath.Join(l.cfg.Dir, "event="+k.table, "date="+k.day.Format(time.DateOnly),
		fmt.Sprintf("seq-%020d-%020d.parquet", first, last))
}

// writeFile merges b's rows into file k and returns how many rows were new.
func (l *Lake) writeFile(k lakeFile, b *lakeBuffer) (int, error) {
	path := l.path(k)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("lake: %w", err)
	}
	schema := lakeSchema(b.table)
	existing, err := readLakeRows(path, schema)
	if err != nil {
		return 0, err
	}
	seqCol := columnIndex(schema, "stream_sequence")
	have := map[int64]bool{}
	for _, r := range existing {
		have[r[seqCol].Int64()] = true
	}
	cols := b.table.AllColumns()
	idx := make([]int, len(cols))
	for i, c := range cols {
		idx[i] = columnIndex(schema, c.Name)
	}
	rows := existing
	added := 0
	for _, r := range b.rows {
		if have[int64(r.Sequence)] {
			continue
		}
		have[int64(r.Sequence)] = true
		rows = append(rows, lakeRow(idx, len(schema.Fields()), r))
		added++
	}
	if added == 0 {
		return 0, nil
	}
	slices.SortFunc(rows, func(a, b parquet.Row) int { return int(a[seqCol].Int64() - b[seqCol].Int64()) })

	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, fmt.Errorf("lake: %w", err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	w := parquet.NewWriter(f, schema, parquet.Compression(&parquet.Zstd))
	if _, err := w.WriteRows(rows); err != nil {
		f.Close()
		return 0, fmt.Errorf("lake: write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		f.Close()
		return 0, fmt.Errorf("lake: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("lake: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("lake: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("lake: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return 0, err
	}
	l.log.Debug("lake file written", "file", path, "rows", len(rows), "new", added)
	return added, nil
}

// DropDaysBefore removes the lake's day directories,
// <Dir>/event=<table>/date=<yyyy-mm-dd>, whose whole UTC day ends at or
// before cutoff — the days DropPartitionsBefore drops from the tables —
// and returns them relative to Dir. It waits for a write in progress;
// rows of such a day still buffered are written afterwards (an old event
// delivered again), as its table partition is created again, and the next
// pass removes them.
func (l *Lake) DropDaysBefore(cutoff time.Time) (dropped []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	events, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("lake retention: %w", err)
	}
	for _, ev := range events {
		if !ev.IsDir() || !strings.HasPrefix(ev.Name(), "event=") {
			continue
		}
		eventDir := filepath.Join(l.cfg.Dir, ev.Name())
		days, err := os.ReadDir(eventDir)
		if err != nil {
			return dropped, fmt.Errorf("lake retention: %w", err)
		}
		removed := false
		for _, d := range days {
			date, ok := strings.CutPrefix(d.Name(), "date=")
			if !d.IsDir() || !ok {
				continue
			}
			day, err := time.Parse(time.DateOnly, date)
			if err != nil || day.AddDate(0, 0, 1).After(cutoff) {
				continue
			}
			if err := os.RemoveAll(filepath.Join(eventDir, d.Name())); err != nil {
				return dropped, fmt.Errorf("lake retention: %w", err)
			}
			removed = true
			dropped = append(dropped, filepath.Join(ev.Name(), d.Name()))
		}
		if removed {
			if err := syncDir(eventDir); err != nil {
				return dropped, err
			}
		}
	}
	return dropped, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("lake: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("lake: fsync %s: %w", dir, err)
	}
	return nil
}

// readLakeRows reads the rows of the file at path (none when it does not
// exist) in schema's column order; columns the file lacks are NULL.
func readLakeRows(path string, schema *parquet.Schema) ([]parquet.Row, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("lake: open %s: %w", path, err)
	}
	old := pf.Schema()
	mapping := make([]int, len(old.Fields()))
	for i, fd := range old.Fields() {
		mapping[i] = columnIndex(schema, fd.Name())
		if mapping[i] < 0 {
			return nil, fmt.Errorf("lake: %s has a column %s the table does not", path, fd.Name())
		}
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	var out []parquet.Row
	buf := make([]parquet.Row, 256)
	width := len(schema.Fields())
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			nr := make(parquet.Row, width)
			for j := range nr {
				nr[j] = parquet.NullValue().Level(0, 0, j)
			}
			for _, v := range row {
				j := mapping[v.Column()]
				nr[j] = v.Clone().Level(0, v.DefinitionLevel(), j)
			}
			out = append(out, nr)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("lake: read %s: %w", path, err)
		}
	}
}

func columnIndex(schema *parquet.Schema, name string) int {
	for i, f := range schema.Fields() {
		if f.Name() == name {
			return i
		}
	}
	return -1
}

// lakeSchema is the Parquet schema of a table: every column optional, typed
// as in PostgreSQL (numeric → UINT64, jsonb → JSON, timestamptz →
// TIMESTAMP(MICROS, UTC)).
func lakeSchema(t *Table) *parquet.Schema {
	g := parquet.Group{}
	for _, c := range t.AllColumns() {
		g[c.Name] = parquet.Optional(lakeNode(c.Type))
	}
	return parquet.NewSchema(t.Name, g)
}

func lakeNode(t ColumnType) parquet.Node {
	switch t {
	case TypeBoolean:
		return parquet.Leaf(parquet.BooleanType)
	case TypeInteger:
		return parquet.Int(32)
	case TypeBigint:
		return parquet.Int(64)
	case TypeNumeric:
		return parquet.Uint(64)
	case TypeReal:
		return parquet.Leaf(parquet.FloatType)
	case TypeDouble:
		return parquet.Leaf(parquet.DoubleType)
	case TypeBytea:
		return parquet.Leaf(parquet.ByteArrayType)
	case TypeTimestamptz:
		return parquet.Timestamp(parquet.Microsecond)
	case TypeJSONB:
		return parquet.JSON()
	default:
		return parquet.String()
	}
}

// lakeRow is r in the file's column order: idx[i] is the file column of
// the table's column i.
func lakeRow(idx []int, width int, r Row) parquet.Row {
	out := make(parquet.Row, width)
	for j := range out {
		out[j] = parquet.NullValue().Level(0, 0, j)
	}
	for i, v := range r.Values {
		if v == nil {
			continue
		}
		out[idx[i]] = lakeValue(v).Level(0, 1, idx[i])
	}
	return out
}

func lakeValue(v any) parquet.Value {
	switch v := v.(type) {
	case string:
		return parquet.ByteArrayValue([]byte(v))
	case bool:
		return parquet.BooleanValue(v)
	case int32:
		return parquet.Int32Value(v)
	case int64:
		return parquet.Int64Value(v)
	case *big.Int:
		return parquet.Int64Value(int64(v.Uint64()))
	case float32:
		return parquet.FloatValue(v)
	case float64:
		return parquet.DoubleValue(v)
	case []byte:
		return parquet.ByteArrayValue(v)
	case time.Time:
		return parquet.Int64Value(v.UnixMicro())
	case json.RawMessage:
		return parquet.ByteArrayValue(v)
	}
	return parquet.ByteArrayValue(fmt.Append(nil, v))
}
