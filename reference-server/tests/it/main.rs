//! Integration tests of the reference server over real sockets, one module per
//! requirement group. Test names start with the requirement ID they check
//! (`fn auth_27_...` checks AUTH-27, see spec/roomcast-v1.md).

mod common;

mod auth;
mod env;
mod fan;
mod fuzz;
mod hostile;
mod life;
mod lim;
mod ops;
mod publish;
mod room;
mod wire;
