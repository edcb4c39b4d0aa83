// SPDX-License-Identifier: MIT
// Entry point: mounts the app and finds out whether a session exists.
import { render } from "preact";
import { App } from "./components/App";
import { boot } from "./mail";
import "./styles.css";

render(<App />, document.getElementById("app")!);
void boot();
