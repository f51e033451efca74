//! `nft -j list ruleset` into [`Table`]s: native tables as [`Stack::Nft`], tables owned by
//! iptables-nft as [`Stack::IptablesNft`].

use crate::model::Table;
use crate::parse::ParseError;

pub fn parse(text: &str, file: &str) -> Result<Vec<Table>, ParseError> {
    let _ = text;
    Err(ParseError::new(file, 0, "not implemented"))
}
