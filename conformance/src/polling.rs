//! Engine.IO long-polling client.
