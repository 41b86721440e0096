package dev.clickstream.runtime;

/** A required field of an event is not set: thrown before anything is sent. */
public final class ValidationException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String event;
    private final int eventId;
    private final int version;
    private final String field;

    public ValidationException(String event, int eventId, int version, String field) {
        super(event + " (event " + eventId + " v" + version + "): required field " + field
                + " is not set (required means present and not the zero value)");
        this.event = event;
        this.eventId = eventId;
        this.version = version;
        this.field = field;
    }

    public String event() {
        return event;
    }

    public int eventId() {
        return eventId;
    }

    public int version() {
        return version;
    }

    /** The path of the missing field, e.g. "context.user_id". */
    public String field() {
        return field;
    }
}
