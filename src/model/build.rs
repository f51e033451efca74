//! Evidence -> Model.

use crate::collect::evidence::{Evidence, files};
use crate::model::Model;
use crate::parse::ParseError;

pub fn build(evidence: &Evidence) -> Result<Model, ParseError> {
    let _ = files::ALL;
    Ok(Model {
        origin: evidence.origin.clone(),
        ..Model::default()
    })
}
