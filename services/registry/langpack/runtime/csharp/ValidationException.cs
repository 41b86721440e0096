// The C# langpack runtime: every pack carries this file with the namespace
// Clickstream.Runtime replaced by its own (e.g. Clickstream.Events.Web).
using System;
using System.Collections.Generic;

namespace Clickstream.Runtime
{
    /// <summary>
    /// A required field of an event is not set, or a field holds a value protobuf cannot carry: thrown
    /// before anything is sent.
    /// </summary>
    public sealed class ValidationException : ArgumentException
    {
        public string Event { get; private set; }
        public int EventId { get; private set; }
        public int Version { get; private set; }
        /// <summary>The path of the field, e.g. "context.user_id".</summary>
        public string Field { get; private set; }
        /// <summary>What is wrong with a value that is set; empty when a required field is not set.</summary>
        public string Problem { get; private set; }

        public ValidationException(string evt, int eventId, int version, string field)
            : base(evt + " (event " + eventId + " v" + version + "): required field " + field
                + " is not set (required means present and not the zero value)")
        {
            Event = evt;
            EventId = eventId;
            Version = version;
            Field = field;
            Problem = "";
        }

        public ValidationException(string evt, int eventId, int version, string field, string problem)
            : base(evt + " (event " + eventId + " v" + version + "): field " + field + ": " + problem)
        {
            Event = evt;
            EventId = eventId;
            Version = version;
            Field = field;
            Problem = problem;
        }
    }
}
