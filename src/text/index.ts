// The CLIP BPE tokenizer that every CoCa checkpoint uses (OpenCLIP's SimpleTokenizer).
export { ClipTokenizer, DEFAULT_CONTEXT_LENGTH, loadTokenizerFromBytes } from './tokenizer';
export { cleanText } from './clean';
export { END_OF_TEXT, START_OF_TEXT, type ClipVocabulary } from './vocabulary';
