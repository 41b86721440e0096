// The C# langpack runtime: every pack carries this file with the namespace
// Clickstream.Runtime replaced by its own (e.g. Clickstream.Events.Web).
using System;
using System.Collections.Generic;

namespace Clickstream.Runtime
{
    /// <summary>One event version of this langpack.</summary>
    public interface IClickstreamEvent
    {
        int EventId { get; }
        int EventVersion { get; }
        /// <summary>The full protobuf name, e.g. "clickstream.events.v1.ItemViewV2".</summary>
        string MessageName { get; }
        bool Deprecated { get; }
        /// <summary>Throws ValidationException when a required field is not set.</summary>
        void Validate();
        /// <summary>Writes the protobuf JSON form of the event.</summary>
        void WriteJson(JsonWriter w);
    }
}
