//! Docker Engine API JSON (/info, /version, /containers/json, /networks) and daemon.json.

use crate::model::DockerFacts;
use crate::parse::ParseError;

/// Inputs are the raw bodies (None when that source was not captured).
pub struct DockerInputs<'a> {
    pub info: Option<&'a str>,
    pub version: Option<&'a str>,
    pub containers: Option<&'a str>,
    pub networks: Option<&'a str>,
    pub daemon_json: Option<&'a str>,
}

pub fn parse(inputs: &DockerInputs<'_>) -> Result<DockerFacts, ParseError> {
    let _ = inputs;
    Ok(DockerFacts::default())
}
