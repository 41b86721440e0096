package awards

import (
	"fmt"
	"time"
)

// The notification modes: which award notifications a user receives.
const (
	// NotifyAll is the default: grants, revocations and announcements.
	NotifyAll = "all"
	// NotifyNoAnnouncements keeps grants and revocations and drops the
	// announcements addressed to the user.
	NotifyNoAnnouncements = "no_announcements"
	// NotifyNone drops every notification addressed to the user.
	NotifyNone = "none"
)

// NotificationSettings say which award notifications a user receives.
//
// The notifier honours them for every notification addressed to the user
// (a grant, a revocation, a per-user announcement): instead of being sent,
// such a notification is recorded as skipped, with the reason in its
// last_error, and counted. Announcements of a new achievement are broadcast
// as one message with no user, so no user's settings hold them back; the
// receiver that fans them out to users applies the settings itself.
type NotificationSettings struct {
	// Mode is NotifyAll, NotifyNoAnnouncements or NotifyNone.
	Mode string
	// UpdatedAt is when the settings last changed; nil while they are the
	// default (never set).
	UpdatedAt *time.Time
	// UpdatedBy is who changed them last: "user", or "operator <actor>".
	UpdatedBy string
}

// DefaultNotificationSettings are the settings of a user who never set
// any: every notification.
var DefaultNotificationSettings = NotificationSettings{Mode: NotifyAll}

// Why a notification to a user is skipped: the last_error of its
// deliveries.
const (
	skipOptedOut        = "the user opted out of award notifications"
	skipNoAnnouncements = "the user opted out of announcements"
)

// notificationModeProblem says what is wrong with a mode from outside; ""
// when it is one of the modes.
func notificationModeProblem(mode string) string {
	switch mode {
	case NotifyAll, NotifyNoAnnouncements, NotifyNone:
		return ""
	case "":
		return fmt.Sprintf("is required: %s, %s or %s", NotifyAll, NotifyNoAnnouncements, NotifyNone)
	}
	return fmt.Sprintf("is %q; use %s, %s or %s", mode, NotifyAll, NotifyNoAnnouncements, NotifyNone)
}
