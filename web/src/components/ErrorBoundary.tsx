import { Component, type ErrorInfo, type ReactNode } from "react";

interface Props {
  /** What to show instead of the children once they threw; `retry` renders them again. */
  fallback(error: unknown, retry: () => void): ReactNode;
  /** Called with the error, e.g. to forget a failed import before the retry. */
  onError?(error: unknown, info: ErrorInfo): void;
  /** A new value renders the children again (a new message, a new page). */
  resetKey?: unknown;
  children: ReactNode;
}

interface State {
  error: unknown;
  failed: boolean;
  resetKey: unknown;
}

/**
 * Catches what its children throw while rendering, so one part of the app that cannot show (a page whose
 * code could not be downloaded) says so in place instead of unmounting the whole app into a blank page.
 */
export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: null, failed: false, resetKey: this.props.resetKey };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error, failed: true };
  }

  static getDerivedStateFromProps(props: Props, state: State): Partial<State> | null {
    if (props.resetKey === state.resetKey) return null;
    return { error: null, failed: false, resetKey: props.resetKey };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    this.props.onError?.(error, info);
  }

  retry = (): void => this.setState({ error: null, failed: false });

  override render(): ReactNode {
    if (this.state.failed) return this.props.fallback(this.state.error, this.retry);
    return this.props.children;
  }
}
