package dev.clickstream.runtime;

/**
 * An event cannot be sent as it is: a required field is not set, or a value has no protobuf form (a
 * Timestamp or Duration out of range). Thrown by validate(), so before anything is sent.
 */
public final class ValidationException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String event;
    private final int eventId;
    private final int version;
    private final String field;

    /** A required field is not set. */
    public ValidationException(String event, int eventId, int version, String field) {
        this(event, eventId, version, field, "required field " + field
                + " is not set (required means present and not the zero value)");
    }

    /** The value of field cannot be sent: message says why. */
    public ValidationException(String event, int eventId, int version, String field, String message) {
        super(event + " (event " + eventId + " v" + version + "): " + message);
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

    /** The path of the field, e.g. "context.user_id". */
    public String field() {
        return field;
    }
}
