package dev.clickstream.runtime;

/** The verdict of ingest on one event (clickstream.ingest.v1.EventStatus). */
public enum EventStatus {
    EVENT_STATUS_UNSPECIFIED(0),
    EVENT_STATUS_ACCEPTED(1),
    EVENT_STATUS_DUPLICATE(2),
    EVENT_STATUS_REJECTED(3);

    private final int number;

    EventStatus(int number) {
        this.number = number;
    }

    public int getNumber() {
        return number;
    }

    /** The status of a number; EVENT_STATUS_UNSPECIFIED for an unknown one. */
    public static EventStatus forNumber(int number) {
        for (EventStatus s : values()) {
            if (s.number == number) {
                return s;
            }
        }
        return EVENT_STATUS_UNSPECIFIED;
    }
}
