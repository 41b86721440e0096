package bus_test

import (
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/bus"
)

func TestEventSubject(t *testing.T) {
	tests := []struct {
		env     string
		event   string
		version uint32
		want    string
		wantErr string // substring of the error; "" means success
	}{
		{"android", "PhotoStatusChanged", 1, "events.android.photo_status_changed.v1", ""},
		{"web-site", "PhotoUploaded", 12, "events.web-site.photo_uploaded.v12", ""},
		{"partner_acme", "HTTPRequestSent", 2, "events.partner_acme.http_request_sent.v2", ""},
		{"ios", "UserID", 3, "events.ios.user_id.v3", ""},
		{"ios", "Photo2Uploaded", 1, "events.ios.photo2_uploaded.v1", ""},
		{"ios", "AppV2Opened", 1, "events.ios.app_v2_opened.v1", ""},
		{"ios", "photo_status_changed", 1, "events.ios.photo_status_changed.v1", ""},
		{"ios", "Search", 1, "events.ios.search.v1", ""},

		{"", "PhotoUploaded", 1, "", `environment "" is empty`},
		{"web.site", "PhotoUploaded", 1, "", `environment "web.site" contains '.'`},
		{"web site", "PhotoUploaded", 1, "", `environment "web site" contains whitespace`},
		{"web\tsite", "PhotoUploaded", 1, "", `environment "web\tsite" contains whitespace`},
		{"web*", "PhotoUploaded", 1, "", `environment "web*" contains the wildcard '*'`},
		{">", "PhotoUploaded", 1, "", `environment ">" contains the wildcard '>'`},
		{"android", "", 1, "", `event name "" is empty`},
		{"android", "Photo.Uploaded", 1, "", `event name "Photo.Uploaded" contains '.'`},
		{"android", "Photo Uploaded", 1, "", `event name "Photo Uploaded" contains ' '`},
		{"android", "PhotoUploaded", 0, "", `event "PhotoUploaded" version 0`},
	}
	for _, tt := range tests {
		got, err := bus.EventSubject(tt.env, tt.event, tt.version)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("EventSubject(%q, %q, %d) = %q, %v; want error containing %q", tt.env, tt.event, tt.version, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("EventSubject(%q, %q, %d) = %q, %v; want %q", tt.env, tt.event, tt.version, got, err, tt.want)
		}
	}
}

func TestEventFilterSubjectMatchesEveryEnvironmentAndVersion(t *testing.T) {
	filter, err := bus.EventFilterSubject("PhotoStatusChanged")
	if err != nil {
		t.Fatal(err)
	}
	if filter != "events.*.photo_status_changed.*" {
		t.Fatalf("filter = %q", filter)
	}
	for _, tc := range []struct {
		env     string
		event   string
		version uint32
		want    bool
	}{
		{"web", "PhotoStatusChanged", 1, true},
		{"ios-app", "PhotoStatusChanged", 2, true},
		{"web", "PhotoStatusChangedExtra", 1, false},
		{"web", "ReviewStatusChanged", 1, false},
	} {
		subject, err := bus.EventSubject(tc.env, tc.event, tc.version)
		if err != nil {
			t.Fatal(err)
		}
		if got := subjectMatches(filter, subject); got != tc.want {
			t.Errorf("%s matches %s = %v, want %v", filter, subject, got, tc.want)
		}
	}
	if _, err := bus.EventFilterSubject("photo status"); err == nil {
		t.Error("an event name with a space gave a filter")
	}
}

// subjectMatches implements NATS token matching for '*' (no '>').
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	if len(f) != len(s) {
		return false
	}
	for i := range f {
		if f[i] != "*" && f[i] != s[i] {
			return false
		}
	}
	return true
}
