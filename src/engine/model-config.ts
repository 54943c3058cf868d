// A model's config from what its folder holds: open_clip_config.json when there is one, else the built-in
// config that the model's name names (the LAION CoCa repos ship none). Every failure is a ModelConfigError
// naming the file or the model.
import { ModelConfigError } from '../errors';
import { CONFIG_FILE, type ConfigSource, type ModelLocation, type NamedBytes } from '../io/hub';
import { parseConfigText, presetConfig, PRESET_NAMES, type CocaConfig, type PresetName } from '../model/config';

/** OpenCLIP's model names in hub repo and folder names: laion/CoCa-ViT-B-32-laion2B-s13B-b90k → coca_ViT-B-32. */
export function presetForName(name: string): PresetName | null {
  if (/vit-?l-?14/i.test(name)) return 'coca_ViT-L-14';
  if (/vit-?b-?32/i.test(name)) return 'coca_ViT-B-32';
  return null;
}

/** What the cache stores to rebuild the config: the file's text, or the name of the preset it stands for. */
export function configSourceOf(location: ModelLocation, file: NamedBytes | null): ConfigSource {
  if (file) return { json: new TextDecoder().decode(file.bytes), name: file.name };
  const preset = presetForName(location.id);
  if (preset) return { preset };
  throw new ModelConfigError(
    `${location.id} has no ${CONFIG_FILE} and its name names no known model (ViT-B-32, ViT-L-14): add the config next to the weights`,
  );
}

/** The config a ConfigSource stands for: a malformed file is a ModelConfigError naming it, never a bare SyntaxError. */
export function configFromSource(source: ConfigSource): CocaConfig {
  if ('preset' in source) {
    if (!(PRESET_NAMES as readonly string[]).includes(source.preset)) throw new ModelConfigError(`no built-in config ${source.preset}; known: ${PRESET_NAMES.join(', ')}`);
    return presetConfig(source.preset as PresetName);
  }
  return parseConfigText(source.json, source.name);
}
