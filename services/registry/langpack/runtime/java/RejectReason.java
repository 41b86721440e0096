package dev.clickstream.runtime;

/** Why ingest rejected an event (clickstream.ingest.v1.RejectReason). */
public enum RejectReason {
    REJECT_REASON_UNSPECIFIED(0),
    REJECT_REASON_UNKNOWN_EVENT(1),
    REJECT_REASON_UNKNOWN_VERSION(2),
    REJECT_REASON_RETIRED(3),
    REJECT_REASON_NOT_ALLOWED(4),
    REJECT_REASON_MISSING_REQUIRED_FIELD(5),
    REJECT_REASON_WRONG_TYPE(6),
    REJECT_REASON_UNKNOWN_FIELD(7),
    REJECT_REASON_TOO_LARGE(8),
    REJECT_REASON_MALFORMED(9),
    REJECT_REASON_EMPTY(10);

    private final int number;

    RejectReason(int number) {
        this.number = number;
    }

    public int getNumber() {
        return number;
    }

    /** The reason of a number; REJECT_REASON_UNSPECIFIED for an unknown one. */
    public static RejectReason forNumber(int number) {
        for (RejectReason r : values()) {
            if (r.number == number) {
                return r;
            }
        }
        return REJECT_REASON_UNSPECIFIED;
    }
}
