package ingest_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// catalogueWithItemViewV3 is the repo's catalogue after ItemViewV3 was
// registered.
func catalogueWithItemViewV3(t *testing.T) *ingest.Catalogue {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(protosrc.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(protosrc.FS, p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const file = "clickstream/events/v1/item_view.proto"
	fsys[file].Data = append(fsys[file].Data, []byte(`
message ItemViewV3 {
  option (clickstream.options.v1.event) = {id: 1001, version: 3, description: "v3"};
  Context context = 1;
  int64 item_id = 2;
  string list = 3;
}
`)...)
	set, err := schema.Compile(t.Context(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ingest.NewCatalogue(set.FileDescriptorSet(), 9)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A JSON event sent by id for a version registered only later is replayed
// by id once the version exists.
func TestReplayJSONSentByIDAfterTheVersionIsRegistered(t *testing.T) {
	svc, _ := newService(t, ingest.Config{})
	admin := ingest.NewAdmin(svc)
	ctx := context.Background()
	resp := send(t, svc, jsonEvent(t, "early-v3", &ingestv1.JsonEvent{EventId: 1001, Version: 3},
		`{"context":{"userId":"u-1"},"itemId":"7","list":"top"}`))
	if got := resp.GetResults()[0].GetRejection().GetReason(); got != ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION {
		t.Fatalf("before the version exists: %v, want UNKNOWN_VERSION", resp.GetResults()[0])
	}

	svc.SetCatalogue(catalogueWithItemViewV3(t))
	replayed, err := admin.ReplayDeadLetters(ctx, &ingestv1.ReplayDeadLettersRequest{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if replayed.GetAccepted() != 1 || replayed.GetStillRejected() != 0 {
		t.Fatalf("replay: %v, want the event accepted", replayed)
	}
	left, err := admin.ListDeadLetters(ctx, &ingestv1.ListDeadLettersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(left.GetDeadLetters()); n != 0 {
		t.Errorf("%d dead letters left after a successful replay, want 0", n)
	}
}
