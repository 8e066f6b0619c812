//! What the layers compute: parameters, validation, shapes and weight
//! layouts. Backends implement these semantics; they never redefine them.

pub mod conv;
pub mod group;
pub mod head;
pub mod layer;
pub mod limits;
pub mod linear;
pub mod pool;
pub mod shape;
pub mod weights;
