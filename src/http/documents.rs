//! Parsed documents by their text. Clients send the same few documents over and over, and
//! async-graphql's parser was about 5% of the CPU of a small uncached query; a copy of a
//! parse already made costs a fraction of that. Bounded by the text it holds, so a caller
//! sending endless distinct documents only churns it.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::Request;

/// At most this much document text (their parses are some tens of times larger).
const MAX_TEXT_BYTES: u64 = 1024 * 1024;

/// The cache of parsed documents, shared by every request of this process.
pub struct ParsedDocuments(moka::sync::Cache<String, Arc<ExecutableDocument>>);

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .weigher(|text: &String, _| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .max_capacity(MAX_TEXT_BYTES)
                .build(),
        )
    }
}

impl ParsedDocuments {
    /// Gives `request` the parse of its document, from this cache or parsed now (and then
    /// kept). False when the document does not parse: execution reports that, coded.
    pub fn parse(&self, request: &mut Request) -> bool {
        if let Some(document) = self.0.get(request.query.as_str()) {
            request.set_parsed_query(ExecutableDocument::clone(&document));
            return true;
        }
        let query = request.query.clone();
        match request.parsed_query() {
            Ok(document) => {
                self.0.insert(query, Arc::new(document.clone()));
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_reused() {
        let documents = ParsedDocuments::default();
        let mut first = Request::new("query A { viewer { id } }");
        assert!(documents.parse(&mut first));
        assert_eq!(documents.0.iter().count(), 1);
        let mut again = Request::new("query A { viewer { id } }");
        assert!(documents.parse(&mut again));
        assert_eq!(documents.0.iter().count(), 1);
        let (Ok(a), Ok(b)) = (first.parsed_query(), again.parsed_query()) else {
            panic!("no parse");
        };
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(!documents.parse(&mut Request::new("{")));
    }
}
