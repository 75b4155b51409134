use automerge::ActorId;
use uuid::Uuid;

/// Who this device is. Made once by `init` and kept in the store; the actor id is never shared with another
/// replica (copying a store file to a second tablet would break that: enrol a new device instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub device_id: Uuid,
    pub device_name: String,
    /// The person using the device, recorded as the author of its changes.
    pub user: String,
    pub actor: ActorId,
}
