package dev.clickstream.runtime;

/** The verdict on one event. */
public final class Result {
    private final String key;
    private final ClickstreamEvent event;
    EventStatus status = EventStatus.EVENT_STATUS_UNSPECIFIED;
    Rejection rejection;
    Exception error;

    Result(String key, ClickstreamEvent event) {
        this.key = key;
        this.event = event;
    }

    /** The idempotency key the event was sent with. */
    public String key() {
        return key;
    }

    public ClickstreamEvent event() {
        return event;
    }

    public EventStatus status() {
        return status;
    }

    /** Why ingest rejected the event, or null. */
    public Rejection rejection() {
        return rejection;
    }

    /** Why the event's batch could not be delivered (after the retries that could help), or null. */
    public Exception error() {
        return error;
    }

    /** Ingest has the event: accepted now or earlier. */
    public boolean stored() {
        return error == null
                && (status == EventStatus.EVENT_STATUS_ACCEPTED || status == EventStatus.EVENT_STATUS_DUPLICATE);
    }

    @Override
    public String toString() {
        return key + " " + status + (rejection != null ? " " + rejection : "") + (error != null ? " " + error : "");
    }
}
